"""Reading rendered objects: the helpers every policy check shares."""

from __future__ import annotations

from typing import Any

from vllm_deploy.render.common import ANNOTATION_PREFIX as ANNOTATION

__all__ = ["Obj", "annotation", "containers", "flag", "of_kind", "pod_spec", "server"]

Obj = dict[str, Any]


def of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o.get("kind") == kind]


def pod_spec(workload: Obj) -> Obj:
    """The pod template's spec of a Deployment or a Job."""
    spec: Obj = workload.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def containers(workload: Obj) -> list[Obj]:
    pod = pod_spec(workload)
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def annotation(dep: Obj, name: str) -> int | None:
    value = (dep.get("metadata", {}).get("annotations") or {}).get(ANNOTATION + name)
    return int(value) if value is not None and str(value).isdigit() else None


def flag(args: list[str], name: str) -> str | None:
    """The value a command line gives ``name``; the last occurrence wins, as in argparse."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def server(dep: Obj) -> Obj | None:
    found: list[Obj] = pod_spec(dep).get("containers", [])
    return next((c for c in found if c.get("name") == "vllm"), None)
