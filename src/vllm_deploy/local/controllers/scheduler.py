"""A scheduler for the fake nodes: node selector, taints and tolerations, resource fit.

The observable contract of kube-scheduler's default plugins (NodeResourcesFit,
NodeAffinity's nodeSelector part, TaintToleration; pkg/scheduler/framework/plugins): a pod
fits a node when every requested resource (cpu, memory, ``nvidia.com/gpu`` and any other
extended resource) is at most the node's allocatable minus the requests of the pods already
bound there; otherwise it stays Pending with ``PodScheduled=False, reason Unschedulable``,
a message like ``0/2 nodes are available: 2 Insufficient nvidia.com/gpu.`` and a
``FailedScheduling`` event. Among the nodes that fit, the least allocated is chosen
(NodeResourcesLeastAllocated's intent). Affinity, topology spread and preemption are not
modelled.
"""

from __future__ import annotations

import copy
import re
from collections import Counter, defaultdict
from typing import Any

from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.store import Obj, rfc3339

__all__ = ["Scheduler", "quantity"]

_SUFFIXES = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


def quantity(value: Any) -> float:
    """A Kubernetes resource quantity (``500m``, ``16Gi``, ``2``) as a number."""
    match = _QUANTITY.match(str(value))
    if match is None or match.group(2) not in _SUFFIXES:
        raise ValueError(f"invalid quantity {value!r}")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def pod_requests(pod: Obj) -> dict[str, float]:
    """Container requests summed, raised to the largest init container's (effective requests)."""
    total: dict[str, float] = defaultdict(float)
    for c in pod["spec"].get("containers") or []:
        resources = c.get("resources") or {}
        # A limit without a request is the request too (core/v1 defaults).
        for name, value in {
            **(resources.get("limits") or {}),
            **(resources.get("requests") or {}),
        }.items():
            total[name] += quantity(value)
    for c in pod["spec"].get("initContainers") or []:
        for name, value in (c.get("resources", {}).get("requests") or {}).items():
            total[name] = max(total[name], quantity(value))
    return total


def _tolerates(pod: Obj, taint: dict[str, Any]) -> bool:
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for t in pod["spec"].get("tolerations") or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


class Scheduler(Controller):
    name = "default-scheduler"
    watches = frozenset({"Pod", "Node"})

    def reconcile(self) -> None:
        nodes = [n for n in self.objects("Node") if not n.get("spec", {}).get("unschedulable")]
        used: dict[str, Counter[str]] = {n["metadata"]["name"]: Counter() for n in nodes}
        pending = []
        for pod in self.objects("Pod"):
            node = pod["spec"].get("nodeName")
            if node and pod["status"].get("phase") not in ("Succeeded", "Failed"):
                used.setdefault(node, Counter()).update(pod_requests(pod))
            elif not node and not pod["metadata"].get("deletionTimestamp"):
                pending.append(pod)
        for pod in sorted(pending, key=lambda p: p["metadata"]["creationTimestamp"]):
            self._schedule(pod, nodes, used)

    def _schedule(self, pod: Obj, nodes: list[Obj], used: dict[str, Counter[str]]) -> None:
        wanted = pod_requests(pod)
        reasons: Counter[str] = Counter()
        fits = []
        for node in nodes:
            name = node["metadata"]["name"]
            labels = node["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
                reasons["node(s) didn't match Pod's node affinity/selector"] += 1
                continue
            untolerated = [
                t for t in node.get("spec", {}).get("taints") or [] if not _tolerates(pod, t)
            ]
            if untolerated:
                t = untolerated[0]
                reasons[f"node(s) had untolerated taint {{{t['key']}: {t.get('value', '')}}}"] += 1
                continue
            allocatable = node.get("status", {}).get("allocatable") or {}
            short = [
                r
                for r, amount in wanted.items()
                if amount > quantity(allocatable.get(r, 0)) - used[name][r] + 1e-9
            ]
            if short:
                for r in short:
                    reasons[f"Insufficient {r}"] += 1
                continue
            free = sum(
                1 - used[name][r] / quantity(v) for r, v in allocatable.items() if quantity(v)
            )
            fits.append((free, name))
        if not fits:
            message = (
                f"0/{len(nodes)} nodes are available: "
                + ", ".join(f"{count} {why}" for why, count in sorted(reasons.items()))
                + "."
            )
            self._unschedulable(pod, message)
            return
        _, chosen = max(fits)
        used[chosen].update(wanted)
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = chosen
        self.write("Pod", bound)
        bound = self.store.get(KINDS["Pod"], pod["metadata"]["namespace"], pod["metadata"]["name"])
        self._condition(bound, "True", None, None)
        self.event(
            bound,
            "Normal",
            "Scheduled",
            "Successfully assigned "
            f"{pod['metadata']['namespace']}/{pod['metadata']['name']} to {chosen}",
        )

    def _unschedulable(self, pod: Obj, message: str) -> None:
        current = next(
            (c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None
        )
        if current is not None and current.get("message") == message:
            return
        self._condition(pod, "False", "Unschedulable", message)
        self.event(pod, "Warning", "FailedScheduling", message)

    def _condition(self, pod: Obj, status: str, reason: str | None, message: str | None) -> None:
        cond: dict[str, Any] = {
            "type": "PodScheduled",
            "status": status,
            "lastTransitionTime": rfc3339(self.store.now()),
            "lastProbeTime": None,
        }
        if reason:
            cond.update(reason=reason, message=message)
        new_status = copy.deepcopy(pod["status"])
        others = [c for c in new_status.get("conditions") or [] if c["type"] != "PodScheduled"]
        new_status["conditions"] = [cond, *others]
        self.write_status("Pod", pod, new_status)
