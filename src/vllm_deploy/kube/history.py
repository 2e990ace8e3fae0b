"""``vllm-deploy history`` and ``vllm-deploy rollback``: the Deployment's revisions as
``kubectl rollout history`` lists them (the ReplicaSets' revision annotations), and a
rollback with ``kubectl rollout undo``'s choice of target (the previous revision, or
``--to-revision``; kubectl pkg/polymorphichelpers/rollback.go).

A revision deployed by vllm-deploy carries its spec: the rollback re-applies all of it (its
ConfigMap and autoscaler too), and the Deployment controller brings the old ReplicaSet back,
under a new revision number, as after ``kubectl rollout undo``. A revision without the spec
(edited by hand) is rolled back as kubectl does: its pod template only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from vllm_deploy.kube.deploy import (
    CHANGE_CAUSE,
    DeployOptions,
    DeployResult,
    Say,
    deploy,
    spec_digest,
    spec_of,
)
from vllm_deploy.kube.errors import OpsError, UsageError
from vllm_deploy.kube.inspect import (
    REVISION,
    Obj,
    age,
    deployment_of,
    read_deployment,
    replica_sets_of,
)
from vllm_deploy.kube.rollout import wait_for_rollout
from vllm_deploy.spec import DeploymentSpec

__all__ = ["Revision", "history", "rollback"]

# What kubectl's undo does not copy from the ReplicaSet (rollback.go annotationsToSkip).
_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


@dataclass
class Revision:
    number: int
    replica_set: str
    replicas: int
    images: list[str]
    created: str
    cause: str
    spec_digest: str | None
    current: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _revision(obj: Obj) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))


def _deployment(api: client.ApiClient, spec: DeploymentSpec) -> Obj:
    d = deployment_of(api, spec)
    if d is None:
        raise OpsError(
            f"deployment {spec.namespace}/{spec.app_name} does not exist: deploy it first"
        )
    return d


def history(api: client.ApiClient, spec: DeploymentSpec) -> list[Revision]:
    d = _deployment(api, spec)
    current = _revision(d)
    out = []
    for rs in replica_sets_of(api, d):
        found = spec_of(rs)
        out.append(
            Revision(
                number=_revision(rs),
                replica_set=rs["metadata"]["name"],
                replicas=int((rs.get("status") or {}).get("replicas", 0)),
                images=[
                    c.get("image", "")
                    for c in rs["spec"]["template"]["spec"].get("containers") or []
                ],
                created=age(rs["metadata"].get("creationTimestamp")),
                cause=(rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE, "<none>"),
                spec_digest=spec_digest(found) if found else None,
                current=_revision(rs) == current,
            )
        )
    return out


def _target(d: Obj, sets: list[Obj], to_revision: int) -> Obj:
    """kubectl's rollbacker: the given revision, else the newest one before the current."""
    current = _revision(d)
    if to_revision:
        match = next((rs for rs in sets if _revision(rs) == to_revision), None)
        if match is None:
            known = ", ".join(str(_revision(rs)) for rs in sets)
            raise UsageError(
                f"unable to find the specified revision {to_revision} (revisions: {known})"
            )
        if to_revision == current:
            raise UsageError(f"revision {to_revision} is the current one: nothing to roll back")
        return match
    older = [rs for rs in sets if 0 < _revision(rs) < current]
    if not older:
        raise OpsError("no rollout history found: there is no previous revision")
    return max(older, key=_revision)


def _undo_template(api: client.ApiClient, d: Obj, rs: Obj, timeout_s: float, say: Say) -> int:
    """kubectl rollout undo: the ReplicaSet's template (without its hash label) and its
    annotations onto the Deployment, guarded by the resourceVersion read."""
    template = copy.deepcopy(rs["spec"]["template"])
    (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    annotations = dict(d["metadata"].get("annotations") or {})
    for key, value in (rs["metadata"].get("annotations") or {}).items():
        if key not in _SKIP:
            annotations[key] = value
    patch = [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": d["metadata"]["resourceVersion"],
        },
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    meta = d["metadata"]
    client.AppsV1Api(api).patch_namespaced_deployment(meta["name"], meta["namespace"], patch)
    wait_for_rollout(
        api, meta["namespace"], meta["name"], timeout_s, on_progress=lambda s: say(s.message)
    )
    after = read_deployment(api, meta["namespace"], meta["name"])
    return _revision(after or d)


def rollback(
    api: client.ApiClient,
    spec: DeploymentSpec,
    to_revision: int = 0,
    timeout_s: float = 900.0,
    say: Say = lambda _: None,
) -> DeployResult | int:
    """Rolls back and waits; a DeployResult when the revision's spec was re-applied, the new
    revision number when only its template could be."""
    d = _deployment(api, spec)
    target = _target(d, replica_sets_of(api, d), to_revision)
    number = _revision(target)
    old_spec = spec_of(target)
    if old_spec is None:
        say(
            f"revision {number} carries no spec (not deployed by vllm-deploy): "
            "rolling back its pod template only"
        )
        return _undo_template(api, d, target, timeout_s, say)
    if (old_spec.name, old_spec.namespace) != (spec.name, spec.namespace):
        raise OpsError(
            f"revision {number} was made from spec {old_spec.namespace}/{old_spec.name}, "
            "not this one"
        )
    say(f"rolling back to revision {number} (spec {spec_digest(old_spec)})")
    options = DeployOptions(
        old_spec,
        timeout_s=timeout_s,
        rollback=False,
        preflight=False,
        cause=f"vllm-deploy rollback to revision {number}",
    )
    return deploy(api, options, say)
