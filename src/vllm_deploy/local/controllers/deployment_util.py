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

from vllm_deploy.local.store import NAME_ALPHABET, Obj, parse_rfc3339

__all__ = [
    "DESIRED_REPLICAS",
    "MAX_INT32",
    "MAX_REPLICAS",
    "REVISION",
    "REVISION_HISTORY",
    "TEMPLATE_HASH",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
    "equal_ignore_hash",
    "get_condition",
    "has_progress_deadline",
    "is_rolling_update",
    "max_revision",
    "max_surge",
    "max_unavailable",
    "min_available",
    "new_rs_new_replicas",
    "proportion",
    "replica_set_fraction",
    "resolve_fenceposts",
    "revision_of",
    "scaled_value",
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


MAX_INT32 = 2**31 - 1  # progressDeadlineSeconds of math.MaxInt32 means "no deadline"


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent; ValueError for a string that is not "N%"."""
    if isinstance(value, int):
        return value
    if not value.endswith("%") or not value[:-1].isdigit():
        raise ValueError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}"
        )
    scaled = int(value[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """ResolveFenceposts: surge rounded up, unavailable down, an unset value is 0; both 0
    means unavailable 1, so that a rollout can make progress. ValueError when invalid."""
    surge = 0 if max_surge is None else scaled_value(max_surge, desired, round_up=True)
    unavailable = (
        0 if max_unavailable is None else scaled_value(max_unavailable, desired, round_up=False)
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(d: Obj) -> bool:
    return bool(d["spec"].get("strategy", {}).get("type", "RollingUpdate") == "RollingUpdate")


def _fenceposts(d: Obj) -> tuple[int, int]:
    # Admission defaults both to 25%; validation rejects invalid values before they get here.
    rolling = d["spec"].get("strategy", {}).get("rollingUpdate") or {}
    return resolve_fenceposts(
        rolling.get("maxSurge"), rolling.get("maxUnavailable"), int(d["spec"].get("replicas", 1))
    )


def max_surge(d: Obj) -> int:
    """MaxSurge: 0 unless RollingUpdate."""
    return _fenceposts(d)[0] if is_rolling_update(d) else 0


def max_unavailable(d: Obj) -> int:
    """MaxUnavailable: 0 unless RollingUpdate or when replicas is 0; at most replicas."""
    replicas = int(d["spec"].get("replicas", 1))
    if not is_rolling_update(d) or replicas == 0:
        return 0
    return min(_fenceposts(d)[1], replicas)


def min_available(d: Obj) -> int:
    """MinAvailable: replicas less MaxUnavailable; 0 unless RollingUpdate."""
    if not is_rolling_update(d):
        return 0
    return int(d["spec"].get("replicas", 1)) - max_unavailable(d)


def _annotation_int(rs: Obj, key: str) -> int | None:
    """getNonNegativeInt32FromAnnotation: None when missing, unparsable or negative."""
    value = (rs["metadata"].get("annotations") or {}).get(key)
    if value is None or not value.isdigit() or int(value) > MAX_INT32:
        return None
    return int(value)


def replica_set_fraction(rs: Obj, d: Obj) -> int:
    """getReplicaSetFraction: how many replicas this ReplicaSet gains (or loses) when the
    Deployment is scaled during a rollout, in proportion to its share of max-replicas.
    Without a usable max-replicas annotation the Deployment's status.replicas stands in; when
    that is 0 too, the ReplicaSet is not scaled."""
    rs_replicas = int(rs["spec"].get("replicas", 0))
    replicas = int(d["spec"].get("replicas", 1))
    if replicas == 0:
        return -rs_replicas
    target = replicas + max_surge(d)
    annotated = _annotation_int(rs, MAX_REPLICAS) or int((d.get("status") or {}).get("replicas", 0))
    if annotated == 0:
        return 0
    # integer.RoundToInt32 rounds halves away from zero.
    return math.floor(rs_replicas * target / annotated + 0.5) - rs_replicas


def proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    """GetProportion: the fraction, capped by what is still to be added (or removed)."""
    if rs is None or int(rs["spec"].get("replicas", 0)) == 0 or to_add in (0, added):
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


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
    return "".join(NAME_ALPHABET[ord(ch) % len(NAME_ALPHABET)] for ch in str(value))


def new_rs_new_replicas(d: Obj, all_rs: Iterable[Obj], new_rs: Obj) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may scale up now."""
    replicas = int(d["spec"].get("replicas", 1))
    new_replicas = int(new_rs["spec"].get("replicas", 0))
    if not is_rolling_update(d):
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
        and status.get("observedGeneration", 0) >= d.get("metadata", {}).get("generation", 0)
    )


def deployment_progressing(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """DeploymentProgressing: more updated, fewer old, more ready or more available replicas."""

    def old_replicas(s: dict[str, Any]) -> int:
        return int(s.get("replicas", 0)) - int(s.get("updatedReplicas", 0))

    return bool(
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or old_replicas(new) < old_replicas(old)
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def has_progress_deadline(d: Obj) -> bool:
    """HasProgressDeadline: set, and not math.MaxInt32."""
    deadline = d["spec"].get("progressDeadlineSeconds")
    return deadline is not None and deadline != MAX_INT32


def deployment_timed_out(d: Obj, status: dict[str, Any], now: float) -> bool:
    """DeploymentTimedOut: the Progressing condition was last updated more than
    progressDeadlineSeconds before ``now`` (epoch seconds); a complete rollout never times out."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    return bool(parse_rfc3339(cond["lastUpdateTime"]) + d["spec"]["progressDeadlineSeconds"] < now)


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
