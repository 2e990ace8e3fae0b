"""Policy checks of the model cache (docs/deploy.md, "The model cache").

A Deployment says its cache kind in the ``vllm-deploy.io/cache-kind`` annotation; the
checks read the objects themselves (volumes, mounts, the ``vllm-deploy cache fill|wait``
command lines), so they hold for hand-edited output too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vllm_deploy.render.common import ANNOTATION_PREFIX as ANNOTATION
from vllm_deploy.validate.objects import Obj, containers, flag, of_kind, pod_spec, server
from vllm_deploy.validate.problems import Problem, obj_id

__all__ = ["CACHE_POLICIES"]

Check = Callable[[list[Obj]], Iterator[Problem]]
_ADMITS_HOST_PATH = frozenset({"privileged"})  # baseline and restricted forbid hostPath


def _shared(objs: list[Obj]) -> list[Obj]:
    return [
        d
        for d in of_kind(objs, "Deployment")
        if (d.get("metadata", {}).get("annotations") or {}).get(ANNOTATION + "cache-kind")
        == "shared"
    ]


def _cache_command(container: Obj, verb: str) -> bool:
    command = [*container.get("command", []), *container.get("args", [])]
    return any(command[i : i + 2] == ["cache", verb] for i in range(len(command)))


def _volume(workload: Obj, name: str) -> Obj | None:
    return next((v for v in pod_spec(workload).get("volumes", []) if v.get("name") == name), None)


def _mount(container: Obj, volume: str) -> Obj | None:
    return next((m for m in container.get("volumeMounts", []) if m.get("name") == volume), None)


def _claim(workload: Obj, volume: str) -> str | None:
    source = (_volume(workload, volume) or {}).get("persistentVolumeClaim") or {}
    name = source.get("claimName")
    return name if isinstance(name, str) else None


def _models_volume(workload: Obj, container: Obj) -> str | None:
    """The volume holding ``--dir``: the mount whose path is a prefix of it."""
    directory = flag(container.get("command", []), "--dir") or ""
    for mount in container.get("volumeMounts", []):
        if directory.startswith(str(mount.get("mountPath", "")).rstrip("/") + "/"):
            return str(mount.get("name"))
    return None


def cache_shared_rwx(objs: list[Obj]) -> Iterator[Problem]:
    """A shared cache is one ReadWriteMany claim: the Job writes while pods on any node read."""
    claims = {c["metadata"]["name"]: c for c in of_kind(objs, "PersistentVolumeClaim")}
    for dep in _shared(objs):
        claim = _claim(dep, "models")
        if claim is None:
            yield Problem(
                "cache-shared-rwx",
                obj_id(dep),
                "spec.template.spec.volumes[models]",
                "a shared cache must be a persistentVolumeClaim",
            )
            continue
        pvc = claims.get(claim)
        if pvc is None:
            yield Problem(
                "cache-shared-rwx",
                obj_id(dep),
                "spec.template.spec.volumes[models]",
                f"claim {claim} is not among the rendered objects",
            )
            continue
        modes = pvc.get("spec", {}).get("accessModes", [])
        if modes != ["ReadWriteMany"]:
            yield Problem(
                "cache-shared-rwx",
                obj_id(pvc),
                "spec.accessModes",
                f"{modes}: a shared cache needs [ReadWriteMany]",
            )


def cache_read_only(objs: list[Obj]) -> Iterator[Problem]:
    """Pods on a shared cache mount it read-only and never download (no fill, no token)."""
    for dep in _shared(objs):
        source = (_volume(dep, "models") or {}).get("persistentVolumeClaim") or {}
        if source and not source.get("readOnly"):
            yield Problem(
                "cache-read-only",
                obj_id(dep),
                "spec.template.spec.volumes[models].persistentVolumeClaim.readOnly",
                "must be true: pods only read a shared cache",
            )
        for c in containers(dep):
            mount = _mount(c, "models")
            if mount is not None and not mount.get("readOnly"):
                yield Problem(
                    "cache-read-only",
                    obj_id(dep),
                    f"containers[{c.get('name')}].volumeMounts[models].readOnly",
                    "must be true: pods only read a shared cache; the download Job writes it",
                )
            if _cache_command(c, "fill") or any(
                e.get("name") == "HF_TOKEN_PATH" for e in c.get("env", [])
            ):
                yield Problem(
                    "cache-read-only",
                    obj_id(dep),
                    f"containers[{c.get('name')}].command",
                    "a pod on a shared cache downloads: only the download Job may",
                )


def cache_job_agrees(objs: list[Obj]) -> Iterator[Problem]:
    """The pods wait for the revision a download Job fills, in the same claim and path."""
    fillers = [
        (job, c)
        for job in of_kind(objs, "Job")
        for c in containers(job)
        if _cache_command(c, "fill")
    ]
    for dep in _shared(objs):
        waits = [c for c in containers(dep) if _cache_command(c, "wait")]
        for wait in waits:
            where = f"containers[{wait.get('name')}].command"
            revision = flag(wait.get("command", []), "--revision")
            directory = flag(wait.get("command", []), "--dir")
            volume = _models_volume(dep, wait)
            mount = _mount(wait, volume or "") or {}
            claim = _claim(dep, volume or "")
            model = flag((server(dep) or {}).get("args", []), "--model")
            if model != directory:
                yield Problem(
                    "cache-job-agrees",
                    obj_id(dep),
                    "containers[vllm].args[--model]",
                    f"{model} is not the directory the pod waits for ({directory})",
                )
            same_claim = [
                (j, c) for j, c in fillers if _claim(j, _models_volume(j, c) or "") == claim
            ]
            if not same_claim:
                yield Problem(
                    "cache-job-agrees",
                    obj_id(dep),
                    where,
                    f"no download Job fills claim {claim}: the pod would wait for ever",
                )
                continue
            agree = [
                (j, c)
                for j, c in same_claim
                if flag(c.get("command", []), "--revision") == revision
                and flag(c.get("command", []), "--dir") == directory
                and (_mount(c, _models_volume(j, c) or "") or {}).get("mountPath")
                == mount.get("mountPath")
            ]
            if not agree:
                job, c = same_claim[0]
                yield Problem(
                    "cache-job-agrees",
                    obj_id(job),
                    "containers[download].command",
                    f"fills --revision {flag(c.get('command', []), '--revision')} --dir "
                    f"{flag(c.get('command', []), '--dir')}; {obj_id(dep)} waits for "
                    f"--revision {revision} --dir {directory} at mount {mount.get('mountPath')}",
                )


def pod_security_admits(objs: list[Obj]) -> Iterator[Problem]:
    """A rendered Namespace's Pod Security level admits the pods (hostPath: privileged only)."""
    levels = {
        n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(
            "pod-security.kubernetes.io/enforce"
        )
        for n in of_kind(objs, "Namespace")
    }
    for workload in [*of_kind(objs, "Deployment"), *of_kind(objs, "Job")]:
        level = levels.get(workload.get("metadata", {}).get("namespace", ""))
        if level is None or level in _ADMITS_HOST_PATH:
            continue
        for volume in pod_spec(workload).get("volumes", []):
            if "hostPath" in volume:
                yield Problem(
                    "pod-security-admits",
                    obj_id(workload),
                    f"spec.template.spec.volumes[{volume.get('name')}].hostPath",
                    f"Pod Security {level!r} of the rendered Namespace rejects hostPath volumes: "
                    "no pod would be created",
                )


CACHE_POLICIES: dict[str, Check] = {
    "cache-shared-rwx": cache_shared_rwx,
    "cache-read-only": cache_read_only,
    "cache-job-agrees": cache_job_agrees,
    "pod-security-admits": pod_security_admits,
}
