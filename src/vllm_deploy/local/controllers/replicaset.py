"""The ReplicaSet controller: as many active pods as ``spec.replicas``, and their counts.

Ported from kubernetes pkg/controller/replicaset/replica_set.go (``manageReplicas``,
``getPodsToDelete``) and replica_set_utils.go (``calculateStatus``); the deletion order is
controller_utils.go ``ActivePods.Less``: unscheduled before scheduled, Pending before Unknown
before Running, not ready before ready, ready for less time first, more restarts first,
newer first. A pod is available once Ready for ``minReadySeconds``
(pkg/api/v1/pod/util.go ``IsPodAvailable``).
"""

from __future__ import annotations

import copy
from typing import Any

from vllm_deploy.local.controllers.base import KINDS, Controller, owned_by, owner_reference
from vllm_deploy.local.selectors import match_selector_object
from vllm_deploy.local.store import Obj, parse_rfc3339

__all__ = ["ReplicaSetController", "is_available", "is_ready", "ready_since"]

_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _ready_condition(pod: Obj) -> dict[str, Any] | None:
    return next(
        (c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == "Ready"), None
    )


def is_ready(pod: Obj) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond["status"] == "True"


def ready_since(pod: Obj) -> float | None:
    cond = _ready_condition(pod)
    if cond is None or cond["status"] != "True" or not cond.get("lastTransitionTime"):
        return None
    return parse_rfc3339(cond["lastTransitionTime"])


def is_available(pod: Obj, min_ready_s: int, now: float) -> bool:
    since = ready_since(pod)
    return since is not None and (min_ready_s == 0 or since + min_ready_s <= now)


def is_active(pod: Obj) -> bool:
    """FilterActivePods: not Succeeded or Failed, not being deleted."""
    return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed") and not pod[
        "metadata"
    ].get("deletionTimestamp")


def _deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Sorts the pods to delete first at the front (ActivePods.Less)."""
    status = pod.get("status", {})
    since = ready_since(pod)
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = parse_rfc3339(pod["metadata"]["creationTimestamp"])
    return (
        bool(pod.get("spec", {}).get("nodeName")),
        _PHASE_ORDER.get(status.get("phase", "Pending"), 0),
        is_ready(pod),
        -(since or 0.0),  # ready more recently first
        -restarts,
        -created,  # newer first
        pod["metadata"]["name"],
    )


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    watches = frozenset({"ReplicaSet", "Pod"})

    def reconcile(self) -> None:
        now = self.store.now()
        for rs in self.objects("ReplicaSet"):
            if rs["metadata"].get("deletionTimestamp"):
                continue
            pods = [p for p in self.objects("Pod", rs["metadata"]["namespace"]) if owned_by(p, rs)]
            active = [p for p in pods if is_active(p)]
            diff = len(active) - rs["spec"].get("replicas", 0)
            if diff < 0:
                for _ in range(-diff):
                    active.append(self._create_pod(rs))
            elif diff > 0:
                for pod in sorted(active, key=_deletion_rank)[:diff]:
                    self.store.delete(
                        KINDS["Pod"], pod["metadata"]["namespace"], pod["metadata"]["name"]
                    )
                    active.remove(pod)
            self._update_status(rs, active, now)

    def _create_pod(self, rs: Obj) -> Obj:
        template = copy.deepcopy(rs["spec"]["template"])
        meta = template.get("metadata") or {}
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{rs['metadata']['name']}-",
                "labels": meta.get("labels") or {},
                "annotations": meta.get("annotations") or {},
                "ownerReferences": [owner_reference(rs)],
            },
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending"},
        }
        # The template was defaulted when its ReplicaSet (or Deployment) was admitted.
        return self.store.create(KINDS["Pod"], rs["metadata"]["namespace"], pod)

    def _update_status(self, rs: Obj, active: list[Obj], now: float) -> None:
        template_labels = (rs["spec"].get("template", {}).get("metadata") or {}).get("labels") or {}
        min_ready = rs["spec"].get("minReadySeconds", 0)
        ready = [p for p in active if is_ready(p)]
        available = [p for p in ready if is_available(p, min_ready, now)]
        for pod in ready:  # recount when a ready pod becomes available
            since = ready_since(pod)
            if min_ready and since is not None and since + min_ready > now:
                self.requeue_after(since + min_ready - now)
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                match_selector_object(
                    {"matchLabels": template_labels}, p["metadata"].get("labels") or {}
                )
                for p in active
            ),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 0),
        }
        # replicas is required in ReplicaSetStatus; the other counts are omitempty.
        self.write_status(
            "ReplicaSet", rs, {k: v for k, v in status.items() if v or k == "replicas"}
        )
