"""A container's environment and command line, as the kubelet builds them
(pkg/kubelet/kubelet_pods.go ``makeEnvironmentVariables``; third_party/forked/golang/expansion):
``envFrom`` sources first, then ``env`` in order, each value expanded against what is
defined so far; ``valueFrom`` reads the pod's fields, ConfigMap and Secret keys, and
resource requests/limits; ``$(VAR)`` in command and args is expanded with the result and
``$$`` escapes a ``$``."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from vllm_deploy.local.controllers.scheduler import quantity
from vllm_deploy.local.store import Obj

__all__ = ["container_env", "expand"]

Lookup = Callable[[str, str, str], Obj | None]
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_FIELD_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def expand(value: str, env: Mapping[str, str]) -> str:
    """``$(NAME)`` -> its value when defined (else left as written); ``$$`` -> ``$``."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and (end := value.find(")", i + 2)) != -1:
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _field(pod: Obj, path: str) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    match = _FIELD_PATH.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ValueError(f"unsupported fieldRef {path!r}")


def _resource(container: Obj, ref: dict[str, Any]) -> str:
    kind, _, name = ref["resource"].partition(".")
    value = (container.get("resources", {}).get(kind) or {}).get(name)
    if value is None:
        return "0"
    divisor = quantity(ref.get("divisor", "1"))
    return str(math.ceil(quantity(value) / divisor))


def _key(lookup: Lookup, kind: str, ns: str, ref: dict[str, Any]) -> str | None:
    obj = lookup(kind, ns, ref["name"])
    data = (
        None
        if obj is None
        else (
            obj.get("data") or {}
            if kind == "ConfigMap"
            else {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        )
    )
    if data is None or ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise ValueError(f"couldn't find key {ref['key']} in {kind} {ns}/{ref['name']}")
    return str(data[ref["key"]])


def container_env(pod: Obj, container: Obj, lookup: Lookup) -> dict[str, str]:
    """The container's variables (raises ValueError for a missing required source)."""
    ns = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        obj = lookup(kind, ns, ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            raise ValueError(f'{kind.lower()} "{ref.get("name")}" not found')
        data = obj.get("data") or {}
        for key, value in data.items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = (
                    value if kind == "ConfigMap" else base64.b64decode(value).decode()
                )
    for var in container.get("env") or []:
        source = var.get("valueFrom")
        if source is None:
            env[var["name"]] = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            env[var["name"]] = _field(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            env[var["name"]] = _resource(container, source["resourceFieldRef"])
        else:
            kind = "ConfigMap" if "configMapKeyRef" in source else "Secret"
            value = _key(
                lookup, kind, ns, source.get("configMapKeyRef") or source.get("secretKeyRef") or {}
            )
            if value is not None:
                env[var["name"]] = value
    return env
