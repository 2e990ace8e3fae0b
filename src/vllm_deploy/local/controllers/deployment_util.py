"""Helpers of the Deployment controller, ported from kubernetes
pkg/controller/deployment/util/deployment_util.go (and its copy in kubectl
pkg/util/deployment/deployment.go): fenceposts, revisions, the new-replicas formula,
conditions, completeness, and the pod-template hash."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable
from typing import Any

from vllm_deploy.local.store import Obj

__all__ = [
    "DESIRED_REPLICAS",
    "MAX_REPLICAS",
    "REVISION",
    "REVISION_HISTORY",
    "TEMPLATE_HASH",
    "deployment_complete",
    "equal_ignore_hash",
    "max_revision",
    "max_surge",
    "max_unavailable",
    "new_rs_new_replicas",
    "revision_of",
    "set_condition",
    "template_hash",
]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
TEMPLATE_HASH = "pod-template-hash"
# Deployment annotations never copied to its ReplicaSets (annotationsToSkip).
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        return int(value)
    scaled = int(value[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def _fenceposts(d: Obj) -> tuple[int, int]:
    """ResolveFenceposts: surge rounded up, unavailable down; both 0 means unavailable 1."""
    rolling = d["spec"].get("strategy", {}).get("rollingUpdate") or {}
    desired = d["spec"].get("replicas", 1)
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: Obj) -> bool:
    return bool(d["spec"].get("strategy", {}).get("type", "RollingUpdate") == "RollingUpdate")


def max_surge(d: Obj) -> int:
    return _fenceposts(d)[0] if _rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    replicas = int(d["spec"].get("replicas", 1))
    if not _rolling(d) or replicas == 0:
        return 0
    return min(_fenceposts(d)[1], replicas)


def revision_of(obj: Obj) -> int:
    """The revision annotation; 0 when missing or unparsable (as Revision() callers treat it)."""
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(replica_sets: Iterable[Obj]) -> int:
    return max((revision_of(rs) for rs in replica_sets), default=0)


def _semantic(value: Any) -> Any:
    """Nulls, empty maps and empty lists dropped: apimachinery's semantic equality treats
    nil and empty alike (and clients send ``creationTimestamp: null`` in templates)."""
    if isinstance(value, dict):
        cleaned = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _without_hash(template: Obj) -> Obj:
    template = copy.deepcopy(template)
    (template.get("metadata", {}).get("labels") or {}).pop(TEMPLATE_HASH, None)
    return _semantic(template)  # type: ignore[no-any-return]


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """EqualIgnoreHash: the templates are equal once the pod-template-hash label is dropped."""
    return _without_hash(a) == _without_hash(b)


def template_hash(template: Obj, collision_count: int | None) -> str:
    """A stable hash of the template (and the collision count), safe-encoded.

    Upstream (pkg/controller/controller_utils.go ComputeHash) hashes a Go spew dump with
    FNV-32a; that byte layout cannot be reproduced outside Go, so the value differs while
    the properties (stable, changes with the template or the collision count) hold.
    """
    data = json.dumps(_without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += collision_count.to_bytes(4, "little") + bytes(4)
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    # SafeEncodeString(fmt.Sprint(sum32)): each byte of the decimal digits, mapped.
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in str(value))


def new_rs_new_replicas(d: Obj, all_rs: Iterable[Obj], new_rs: Obj) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may scale up now."""
    replicas = int(d["spec"].get("replicas", 1))
    new_replicas = int(new_rs["spec"].get("replicas", 0))
    if not _rolling(d):
        return replicas
    current = sum(int(rs["spec"].get("replicas", 0)) for rs in all_rs)
    max_total = replicas + max_surge(d)
    if current >= max_total:
        return new_replicas
    return new_replicas + min(max_total - current, replicas - new_replicas)


def deployment_complete(d: Obj, status: dict[str, Any]) -> bool:
    """DeploymentComplete: every replica updated and available, and the spec observed."""
    replicas = d["spec"].get("replicas", 1)
    return bool(
        status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
    )


def get_condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)


def set_condition(status: dict[str, Any], condition: dict[str, Any]) -> None:
    """SetDeploymentCondition: nothing when status and reason are unchanged; the transition
    time is kept when only the reason changed."""
    current = get_condition(status, condition["type"])
    if current is not None and (current["status"], current.get("reason")) == (
        condition["status"],
        condition.get("reason"),
    ):
        return
    if current is not None and current["status"] == condition["status"]:
        condition["lastTransitionTime"] = current["lastTransitionTime"]
    others = [c for c in status.get("conditions") or [] if c["type"] != condition["type"]]
    status["conditions"] = [*others, condition]
