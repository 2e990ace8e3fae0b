"""Pod volumes as directories, and a container's view of them.

The "image" of every container is this installation, and processes share the host's
filesystem, so a volume is a directory under the pod's state directory and a mount is a
path rewrite: any command, argument, environment value or working directory equal to a
``mountPath`` (or under it) names the volume's directory instead (longest mountPath first).
emptyDir and generic ephemeral volumes are per pod; a PersistentVolumeClaim is one directory
per claim, shared by the pods that mount it; configMap and secret volumes hold one file per
key (``items`` honoured), rewritten when the object changes, as the kubelet's sync does.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vllm_deploy.local.store import Obj

__all__ = ["Mounts", "materialise_volumes"]

# (kind, namespace, name) -> the object, or None.
Lookup = Callable[[str, str, str], Obj | None]


def _write_keys(
    directory: Path, data: dict[str, bytes], items: list[dict[str, Any]] | None
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {i["key"]: i["path"] for i in items} if items else {k: k for k in data}
    for old in directory.iterdir():
        if old.is_file() and old.name not in wanted.values():
            old.unlink()
    for key, path in wanted.items():
        if key in data:
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != data[key]:
                target.write_bytes(data[key])


def _config_data(obj: Obj) -> dict[str, bytes]:
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def _secret_data(obj: Obj) -> dict[str, bytes]:
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return data


def materialise_volumes(
    pod: Obj, pod_dir: Path, claims_dir: Path, lookup: Lookup
) -> dict[str, Path]:
    """Creates (or refreshes) each volume's directory; returns name -> directory.

    Raises ValueError naming a missing ConfigMap or Secret that is not optional (the pod
    then waits in ContainerCreating, as on a node).
    """
    ns = pod["metadata"]["namespace"]
    dirs: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume["name"]
        target = pod_dir / "volumes" / name
        if "persistentVolumeClaim" in volume:
            target = claims_dir / ns / volume["persistentVolumeClaim"]["claimName"]
            target.mkdir(parents=True, exist_ok=True)
        elif "configMap" in volume or "secret" in volume:
            source = volume.get("configMap") or volume.get("secret") or {}
            kind = "ConfigMap" if "configMap" in volume else "Secret"
            obj_name = source.get("name") or source.get("secretName", "")
            obj = lookup(kind, ns, obj_name)
            if obj is None and not source.get("optional"):
                raise ValueError(f'{kind.lower()} "{obj_name}" not found')
            data = (
                {}
                if obj is None
                else (_config_data(obj) if kind == "ConfigMap" else _secret_data(obj))
            )
            _write_keys(target, data, source.get("items"))
        else:  # emptyDir, ephemeral, hostPath, ...: a private directory
            target.mkdir(parents=True, exist_ok=True)
        dirs[name] = target
    return dirs


class Mounts:
    """A container's mounts: ``Mounts(container, volume_dirs).rewrite("/models/m")``."""

    def __init__(self, container: Obj, volume_dirs: dict[str, Path]) -> None:
        mounts = []
        for m in container.get("volumeMounts") or []:
            base = volume_dirs.get(m["name"])
            if base is None:
                continue
            source = base / m["subPath"] if m.get("subPath") else base
            mounts.append((m["mountPath"].rstrip("/") or "/", source))
        self._mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)

    def rewrite(self, value: str) -> str:
        for mount_path, source in self._mounts:
            if value == mount_path or value.startswith(mount_path + "/"):
                return str(source) + value[len(mount_path) :]
        return value

    def rewrite_all(self, values: list[str]) -> list[str]:
        return [self.rewrite(v) for v in values]


def remove_pod_dir(pod_dir: Path) -> None:
    shutil.rmtree(pod_dir, ignore_errors=True)
