"""PodDisruptionBudgets: their status (pkg/controller/disruption/disruption.go) and the
eviction subresource that honours them (pkg/registry/core/pod/storage/eviction.go).

Status: ``expectedPods`` from the pods' controllers' scale (maxUnavailable, or a percentage
minAvailable) or the matching pods (an integer minAvailable); ``desiredHealthy``;
``currentHealthy`` = Ready pods not being deleted nor recently evicted;
``disruptionsAllowed = max(0, currentHealthy - desiredHealthy)``.
Eviction: terminal and Pending pods go at once; otherwise the one budget that covers the pod
(more than one is a 500) must allow a disruption, else 429 ``Cannot evict pod as it would
violate the pod's disruption budget.``; an unhealthy pod is evicted when
``unhealthyPodEvictionPolicy`` is AlwaysAllow, or (IfHealthyBudget) when the budget is met.
An eviction lowers ``disruptionsAllowed`` at once and records the pod in ``disruptedPods``.
"""

from __future__ import annotations

import copy
from typing import Any

from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.controllers.deployment_util import scaled_value
from vllm_deploy.local.controllers.replicaset import is_ready
from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.selectors import match_selector_object
from vllm_deploy.local.store import Obj, Store, parse_rfc3339, rfc3339

__all__ = ["DisruptionController", "Evictions"]

_EVICTED_GRACE_S = 120  # DeletionTimeout: an evicted pod counts as disrupted this long


def _pods(store: Store, pdb: Obj) -> list[Obj]:
    return [
        p
        for p in store.items(KINDS["Pod"], pdb["metadata"]["namespace"])
        if match_selector_object(pdb["spec"].get("selector"), p["metadata"].get("labels") or {})
    ]


def _expected_from_controllers(store: Store, pods: list[Obj]) -> int:
    """The sum of the scales of the pods' controllers (ReplicaSet -> its Deployment)."""
    total, seen = 0, set()
    for pod in pods:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if not ref.get("controller") or ref["uid"] in seen:
                continue
            seen.add(ref["uid"])
            owner = store.peek(KINDS[ref["kind"]], pod["metadata"]["namespace"], ref["name"])
            if owner is None:
                continue
            top = owner
            for up in owner["metadata"].get("ownerReferences") or []:
                if up.get("controller") and up["kind"] == "Deployment":
                    top = (
                        store.peek(KINDS["Deployment"], pod["metadata"]["namespace"], up["name"])
                        or owner
                    )
            if top is not owner and top["metadata"]["uid"] in seen:
                continue
            seen.add(top["metadata"]["uid"])
            total += top.get("spec", {}).get("replicas", 0)
    return total


def budget(store: Store, pdb: Obj) -> dict[str, Any]:
    """The status a budget should have now."""
    pods = _pods(store, pdb)
    spec = pdb["spec"]
    disrupted = dict((pdb.get("status") or {}).get("disruptedPods") or {})
    now = store.now()
    names = {p["metadata"]["name"] for p in pods}
    disrupted = {
        n: t
        for n, t in disrupted.items()
        if n in names and parse_rfc3339(t) + _EVICTED_GRACE_S > now
    }
    if "maxUnavailable" in spec:
        expected = _expected_from_controllers(store, pods)
        desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected, round_up=True))
    elif isinstance(spec.get("minAvailable"), str):
        expected = _expected_from_controllers(store, pods)
        desired = scaled_value(spec["minAvailable"], expected, round_up=True)
    else:
        expected = len(pods)
        desired = int(spec.get("minAvailable", 0))
    healthy = sum(
        1
        for p in pods
        if is_ready(p)
        and not p["metadata"].get("deletionTimestamp")
        and p["metadata"]["name"] not in disrupted
    )
    allowed = max(0, healthy - desired) if expected > 0 else 0
    status: dict[str, Any] = {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True" if allowed else "False",
                "reason": "SufficientPods" if allowed else "InsufficientPods",
                "message": "",
                "observedGeneration": pdb["metadata"].get("generation", 1),
                "lastTransitionTime": rfc3339(now),
            }
        ],
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    return status


class DisruptionController(Controller):
    name = "disruption-controller"
    watches = frozenset({"PodDisruptionBudget", "Pod", "Deployment", "ReplicaSet"})

    def reconcile(self) -> None:
        for pdb in self.objects("PodDisruptionBudget"):
            status = budget(self.store, pdb)
            old = copy.deepcopy(pdb.get("status") or {})
            old_cond = (old.get("conditions") or [{}])[0]
            new_cond = status["conditions"][0]
            if old_cond.get("status") == new_cond["status"]:  # keep the transition time
                new_cond["lastTransitionTime"] = old_cond.get("lastTransitionTime")
            self.write_status("PodDisruptionBudget", pdb, status)


class Evictions:
    """Usage: ``Evictions(store).evict("ns", "pod", dry_run=False)`` (the API's eviction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def evict(self, namespace: str, name: str, dry_run: bool) -> None:
        pod = self.store.get(KINDS["Pod"], namespace, name)
        if pod["metadata"].get("deletionTimestamp") is None and not self._terminal_or_pending(pod):
            pdbs = [
                b
                for b in self.store.items(KINDS["PodDisruptionBudget"], namespace)
                if match_selector_object(
                    b["spec"].get("selector"), pod["metadata"].get("labels") or {}
                )
            ]
            if len(pdbs) > 1:
                raise ApiError(
                    500,
                    "InternalError",
                    "This pod has more than one PodDisruptionBudget, "
                    "which the eviction subresource does not support.",
                )
            if pdbs:
                self._check(pdbs[0], pod, dry_run)
        if not dry_run:
            self.store.delete(KINDS["Pod"], namespace, name)

    @staticmethod
    def _terminal_or_pending(pod: Obj) -> bool:
        return pod.get("status", {}).get("phase") in ("Succeeded", "Failed", "Pending")

    def _check(self, pdb: Obj, pod: Obj, dry_run: bool) -> None:
        status = budget(self.store, pdb)
        if not is_ready(pod):  # an unhealthy pod
            policy = pdb["spec"].get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
            if policy == "AlwaysAllow" or status["currentHealthy"] >= status["desiredHealthy"]:
                return
        elif status["disruptionsAllowed"] >= 1:
            if not dry_run:
                status["disruptionsAllowed"] -= 1
                status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = rfc3339(
                    self.store.now()
                )
                current = self.store.get(
                    KINDS["PodDisruptionBudget"],
                    pdb["metadata"]["namespace"],
                    pdb["metadata"]["name"],
                )
                current["status"] = status
                self.store.update(
                    KINDS["PodDisruptionBudget"],
                    pdb["metadata"]["namespace"],
                    current,
                    subresource="status",
                )
            return
        raise ApiError(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            {
                "causes": [
                    {
                        "reason": "DisruptionBudget",
                        "message": f"The disruption budget {pdb['metadata']['name']} needs "
                        f"{status['desiredHealthy']} healthy pods and has "
                        f"{status['currentHealthy']} currently",
                    }
                ]
            },
        )
