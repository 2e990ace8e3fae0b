"""How a Deployment moves between ReplicaSets, ported from kubernetes pkg/controller/deployment:
``syncDeployment``'s dispatch (deployment_controller.go), ``rolloutRolling``,
``reconcileNewReplicaSet``, ``reconcileOldReplicaSets``, ``cleanupUnhealthyReplicas`` and
``scaleDownOldReplicaSetsForRollingUpdate`` (rolling.go), ``rolloutRecreate`` and
``oldPodsRunning`` (recreate.go), ``isScalingEvent``, ``scale`` (proportional scaling) and
``cleanupDeployment`` (sync.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vllm_deploy.local.controllers import deployment_util as du
from vllm_deploy.local.controllers.base import KINDS
from vllm_deploy.local.store import Obj

if TYPE_CHECKING:
    from vllm_deploy.local.controllers.deployment import DeploymentController

__all__ = ["rollout"]


def _spec(rs: Obj | None) -> int:
    return int((rs or {}).get("spec", {}).get("replicas", 0))


def _st(rs: Obj | None, field: str) -> int:
    return int(((rs or {}).get("status") or {}).get(field, 0))


def _active(replica_sets: list[Obj]) -> list[Obj]:
    return [rs for rs in replica_sets if _spec(rs) > 0]


def rollout(dc: DeploymentController, d: Obj) -> None:
    """syncDeployment's dispatch for one Deployment."""
    rs_list = dc.replica_sets(d)
    if d["spec"].get("paused") or _is_scaling_event(dc, d, rs_list):
        _sync(dc, d, rs_list)
    elif d["spec"].get("strategy", {}).get("type") == "Recreate":
        _recreate(dc, d, rs_list)
    else:
        _rolling(dc, d, rs_list)


def _split(
    dc: DeploymentController, d: Obj, rs_list: list[Obj], create: bool
) -> tuple[Obj | None, list[Obj]]:
    """getAllReplicaSetsAndSyncRevision: (the new RS, every old RS)."""
    new_template = dc.find_new(d, rs_list)
    old = [rs for rs in rs_list if rs is not new_template]
    new_rs = dc.new_replica_set(d, rs_list, old, create)
    return new_rs, old


def _is_scaling_event(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> bool:
    new_rs, old = _split(dc, d, rs_list, create=False)
    for rs in _active([*old, *([new_rs] if new_rs else [])]):
        desired = (rs["metadata"].get("annotations") or {}).get(du.DESIRED_REPLICAS)
        if desired is not None and int(desired) != d["spec"]["replicas"]:
            return True
    return False


def _sync(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    """sync: proportional scaling (scale), cleanup when paused, counts only."""
    new_rs, old = _split(dc, d, rs_list, create=False)
    _scale(dc, d, new_rs, old)
    rs_list = dc.replica_sets(d)
    new_rs = dc.find_new(d, rs_list)
    old = [rs for rs in rs_list if rs is not new_rs]
    if d["spec"].get("paused"):
        _cleanup(dc, d, old)
    dc.sync_status(d, rs_list, new_rs)


def _scale(dc: DeploymentController, d: Obj, new_rs: Obj | None, old: list[Obj]) -> None:
    replicas = d["spec"]["replicas"]
    active = _active(old + ([new_rs] if new_rs else []))
    if len(active) <= 1:  # FindActiveOrLatest: the only active RS, or the newest
        target = active[0] if active else (new_rs or (old[-1] if old else None))
        if target is not None and _spec(target) != replicas:
            dc.scale_rs(target, replicas, d)
        return
    if new_rs is not None and _saturated(d, new_rs):
        for rs in _active(old):
            dc.scale_rs(rs, 0, d)
        return
    if d["spec"].get("strategy", {}).get("type", "RollingUpdate") != "RollingUpdate":
        return
    allowed = replicas + du.max_surge(d) if replicas > 0 else 0
    to_add = allowed - sum(_spec(rs) for rs in active)
    if to_add == 0:
        return

    # Largest first; ties go to the newer RS when adding, the older when removing.
    def stamp(rs: Obj) -> str:
        return str(rs["metadata"]["creationTimestamp"]) + str(rs["metadata"]["name"])

    ordered = sorted(active, key=stamp, reverse=to_add > 0)
    ordered = sorted(ordered, key=_spec, reverse=True)
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        proportion = du.proportion(rs, d, to_add, added)
        sizes[rs["metadata"]["name"]] = _spec(rs) + proportion
        added += proportion
    leftover = to_add - added
    first = ordered[0]["metadata"]["name"]
    sizes[first] = max(sizes[first] + leftover, 0)
    for rs in ordered:
        dc.scale_rs(rs, sizes[rs["metadata"]["name"]], d)


def _saturated(d: Obj, rs: Obj) -> bool:
    desired = (rs["metadata"].get("annotations") or {}).get(du.DESIRED_REPLICAS)
    return (
        _spec(rs) == d["spec"]["replicas"]
        and desired == str(d["spec"]["replicas"])
        and _st(rs, "availableReplicas") == d["spec"]["replicas"]
    )


def _rolling(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, old = _split(dc, d, rs_list, create=True)
    if new_rs is None:  # a hash collision: the next sync retries
        return
    all_rs = [*old, new_rs]
    scaled, new_rs = _reconcile_new(dc, d, all_rs, new_rs)
    if scaled:
        dc.sync_rollout_status(d, [*old, new_rs], new_rs)
        return
    if _reconcile_old(dc, d, all_rs, _active(old), new_rs):
        rs_list = dc.replica_sets(d)
        dc.sync_rollout_status(d, rs_list, dc.find_new(d, rs_list))
        return
    if du.deployment_complete(d, dc.latest(d).get("status") or {}):
        _cleanup(dc, d, old)
    rs_list = dc.replica_sets(d)
    dc.sync_rollout_status(d, rs_list, dc.find_new(d, rs_list))


def _reconcile_new(
    dc: DeploymentController, d: Obj, all_rs: list[Obj], new_rs: Obj
) -> tuple[bool, Obj]:
    replicas = d["spec"]["replicas"]
    if _spec(new_rs) == replicas:
        return False, new_rs
    if _spec(new_rs) > replicas:
        return dc.scale_rs(new_rs, replicas, d)
    return dc.scale_rs(new_rs, du.new_rs_new_replicas(d, all_rs, new_rs), d)


def _reconcile_old(
    dc: DeploymentController, d: Obj, all_rs: list[Obj], old: list[Obj], new_rs: Obj
) -> bool:
    if sum(_spec(rs) for rs in old) == 0:
        return False
    min_available = d["spec"]["replicas"] - du.max_unavailable(d)
    new_unavailable = _spec(new_rs) - _st(new_rs, "availableReplicas")
    max_scaled_down = sum(_spec(rs) for rs in all_rs) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    # cleanupUnhealthyReplicas: unavailable pods of old RSs go first, oldest RS first.
    cleaned = 0
    for rs in sorted(old, key=lambda r: r["metadata"]["creationTimestamp"]):
        if cleaned >= max_scaled_down:
            break
        unhealthy = _spec(rs) - _st(rs, "availableReplicas")
        if _spec(rs) == 0 or unhealthy <= 0:
            continue
        step = min(max_scaled_down - cleaned, unhealthy)
        dc.scale_rs(rs, _spec(rs) - step, d)
        cleaned += step
    # scaleDownOldReplicaSetsForRollingUpdate: keep minAvailable available pods.
    fresh = {rs["metadata"]["name"]: rs for rs in dc.replica_sets(d)}
    current = [fresh.get(rs["metadata"]["name"], rs) for rs in all_rs]
    available = sum(_st(rs, "availableReplicas") for rs in current)
    scaled = 0
    if available > min_available:
        budget = available - min_available
        for rs in sorted(
            (fresh.get(r["metadata"]["name"], r) for r in old),
            key=lambda r: r["metadata"]["creationTimestamp"],
        ):
            if scaled >= budget:
                break
            if _spec(rs) == 0:
                continue
            step = min(_spec(rs), budget - scaled)
            dc.scale_rs(rs, _spec(rs) - step, d)
            scaled += step
    return cleaned + scaled > 0


def _recreate(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, old = _split(dc, d, rs_list, create=False)
    scaled_down = False
    for rs in _active(old):
        scaled, _ = dc.scale_rs(rs, 0, d)
        scaled_down |= scaled
    if scaled_down or _old_pods_running(dc, new_rs, old):
        rs_list = dc.replica_sets(d)
        dc.sync_rollout_status(d, rs_list, dc.find_new(d, rs_list))
        return
    if new_rs is None:
        new_rs, old = _split(dc, d, dc.replica_sets(d), create=True)
        if new_rs is None:
            return
    dc.scale_rs(new_rs, d["spec"]["replicas"], d)
    if du.deployment_complete(d, dc.latest(d).get("status") or {}):
        _cleanup(dc, d, old)
    rs_list = dc.replica_sets(d)
    dc.sync_rollout_status(d, rs_list, dc.find_new(d, rs_list))


def _old_pods_running(dc: DeploymentController, new_rs: Obj | None, old: list[Obj]) -> bool:
    """Any pod of an old RS not yet Succeeded or Failed (terminating ones included)."""
    if sum(_st(rs, "replicas") for rs in old) > 0:
        return True
    return any(
        p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        for rs in old
        for p in dc.pods_of(rs)
    )


def _cleanup(dc: DeploymentController, d: Obj, old: list[Obj]) -> None:
    """cleanupDeployment: old RSs beyond revisionHistoryLimit, lowest revision first."""
    limit = d["spec"].get("revisionHistoryLimit")
    if limit is None:
        return
    candidates = [rs for rs in old if not rs["metadata"].get("deletionTimestamp")]
    surplus = len(candidates) - limit
    # The `surplus` lowest revisions are looked at; a busy one among them is kept.
    for rs in sorted(candidates, key=du.revision_of)[: max(surplus, 0)]:
        busy = (
            _st(rs, "replicas")
            or _spec(rs)
            or rs["metadata"].get("generation", 0) > _st(rs, "observedGeneration")
        )
        if not busy:
            dc.store.delete(
                KINDS["ReplicaSet"], rs["metadata"]["namespace"], rs["metadata"]["name"]
            )
