"""EndpointSlices and Endpoints for each Service with a selector.

EndpointSlice (k8s.io/endpointslice reconciler.go and utils.go ``podToEndpoint``): every pod
the selector matches that has an IP and is not Succeeded or Failed, terminating pods
included, with ``serving`` = Ready, ``terminating`` = being deleted and
``ready = publishNotReadyAddresses || (serving && !terminating)``: a terminating pod is never
ready, so traffic leaves it at once. Endpoints (the legacy API): ready pods in ``addresses``,
unready ones in ``notReadyAddresses``, terminating ones dropped. A named ``targetPort`` is
resolved against each pod's container ports.
"""

from __future__ import annotations

from typing import Any

from vllm_deploy.local.controllers.base import KINDS, Controller, owner_reference
from vllm_deploy.local.controllers.replicaset import is_ready
from vllm_deploy.local.selectors import match_selector_object
from vllm_deploy.local.store import Obj

__all__ = ["EndpointsController", "ready_endpoints"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice-controller.k8s.io"


def _target_port(pod: Obj, target: Any) -> int | None:
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for c in pod["spec"].get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


def ready_endpoints(slice_: Obj) -> list[str]:
    """The addresses a Service proxy sends new connections to (conditions.ready)."""
    return [
        a
        for e in slice_.get("endpoints") or []
        if e.get("conditions", {}).get("ready")
        for a in e.get("addresses") or []
    ]


class EndpointsController(Controller):
    name = "endpointslice-controller"
    watches = frozenset({"Service", "Pod"})

    def reconcile(self) -> None:
        for svc in self.objects("Service"):
            selector = svc["spec"].get("selector")
            if not selector:
                continue
            ns = svc["metadata"]["namespace"]
            pods = [
                p
                for p in self.objects("Pod", ns)
                if match_selector_object(
                    {"matchLabels": selector}, p["metadata"].get("labels") or {}
                )
                and p.get("status", {}).get("podIP")
                and p["status"].get("phase") not in ("Succeeded", "Failed")
            ]
            self._slice(svc, pods)
            self._endpoints(svc, pods)

    def _ports(self, svc: Obj, pods: list[Obj]) -> list[dict[str, Any]]:
        ports = []
        for port in svc["spec"].get("ports") or []:
            resolved = next(
                (p for p in (_target_port(pod, port.get("targetPort")) for pod in pods) if p), None
            )
            if resolved is None:
                target = port.get("targetPort")
                resolved = target if isinstance(target, int) else port["port"]
            ports.append(
                {
                    "name": port.get("name", ""),
                    "port": resolved,
                    "protocol": port.get("protocol", "TCP"),
                }
            )
        return ports

    def _slice(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        publish = svc["spec"].get("publishNotReadyAddresses", False)
        endpoints = []
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            serving = is_ready(pod)
            terminating = bool(pod["metadata"].get("deletionTimestamp"))
            endpoints.append(
                {
                    "addresses": [pod["status"]["podIP"]],
                    "conditions": {
                        "ready": publish or (serving and not terminating),
                        "serving": serving,
                        "terminating": terminating,
                    },
                    "nodeName": pod["spec"].get("nodeName"),
                    "targetRef": {
                        "kind": "Pod",
                        "namespace": meta["namespace"],
                        "name": pod["metadata"]["name"],
                        "uid": pod["metadata"]["uid"],
                    },
                }
            )
        body = {"addressType": "IPv4", "endpoints": endpoints, "ports": self._ports(svc, pods)}
        name = f"{meta['name']}-slice"
        rt = KINDS["EndpointSlice"]
        existing = self.store.peek(rt, meta["namespace"], name)
        if existing is None:
            self.store.create(
                rt,
                meta["namespace"],
                {
                    "metadata": {
                        "name": name,
                        "labels": {
                            SERVICE_NAME_LABEL: meta["name"],
                            "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
                        },
                        "ownerReferences": [owner_reference(svc)],
                    },
                    **body,
                },
            )
        elif any(existing.get(k) != v for k, v in body.items()):
            self.store.update(rt, meta["namespace"], {**existing, **body})

    def _endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]

        def address(pod: Obj) -> dict[str, Any]:
            return {
                "ip": pod["status"]["podIP"],
                "nodeName": pod["spec"].get("nodeName"),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": meta["namespace"],
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }

        ready = [address(p) for p in live if is_ready(p)]
        not_ready = [address(p) for p in live if not is_ready(p)]
        subset: dict[str, Any] = {"ports": self._ports(svc, pods)}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets = [subset] if ready or not_ready else []
        rt = KINDS["Endpoints"]
        existing = self.store.peek(rt, meta["namespace"], meta["name"])
        if existing is None:
            self.store.create(
                rt,
                meta["namespace"],
                {
                    "metadata": {"name": meta["name"], "labels": dict(meta.get("labels") or {})},
                    "subsets": subsets,
                },
            )
        elif existing.get("subsets") != subsets:
            self.store.update(rt, meta["namespace"], {**existing, "subsets": subsets})
