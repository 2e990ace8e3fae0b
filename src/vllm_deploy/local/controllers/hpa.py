"""The HorizontalPodAutoscaler controller of the local cluster, and KEDA's part of it.

Every ``sync_s`` (kube-controller-manager's ``--horizontal-pod-autoscaler-sync-period``,
15 s) each HPA is reconciled with the upstream algorithm (``vllm_deploy.autoscale``, a port
of pkg/controller/podautoscaler): the target's scale, its pods as they are (phase, Ready and
its transition time, start time, deletion), and metric values from the metrics APIs
(``metrics_api``: prometheus-adapter rules and KEDA triggers over the real Prometheus). A
new size is written to the target's ``spec.replicas`` with a ``SuccessfulRescale`` event;
the status carries the current metrics and the conditions. For each ScaledObject the
controller keeps the ``keda-hpa-<name>`` HPA that KEDA's operator would create. Resource
metrics (CPU, memory) have no metrics-server here: they are reported as unavailable.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from vllm_deploy.autoscale import ClusterMetrics, Decision, HorizontalPodAutoscaler, PodState
from vllm_deploy.autoscale import HpaSpecError as _SpecError
from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.controllers.metrics_api import MetricsApi, MetricUnavailable, keda_hpa
from vllm_deploy.local.controllers.scheduler import pod_requests
from vllm_deploy.local.prometheus import PrometheusController
from vllm_deploy.local.selectors import match_selector_object
from vllm_deploy.local.store import Obj, Store, parse_rfc3339, rfc3339

__all__ = ["HpaController"]

logger = logging.getLogger("vllm_deploy.local")


def _quantity(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _pod_state(pod: Obj, metrics: dict[str, float]) -> PodState:
    status = pod.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    requests = pod_requests(pod)
    return PodState(
        name=pod["metadata"]["name"],
        phase=status.get("phase", "Pending"),
        ready=None if ready is None else ready["status"] == "True",
        ready_since=parse_rfc3339(ready["lastTransitionTime"])
        if ready and ready.get("lastTransitionTime")
        else None,
        started=parse_rfc3339(status["startTime"]) if status.get("startTime") else None,
        deleting=bool(pod["metadata"].get("deletionTimestamp")),
        metrics=metrics,
        requests={k: v for k, v in requests.items() if k in ("cpu", "memory")},
    )


class HpaController(Controller):
    name = "horizontal-pod-autoscaler"
    watches = frozenset()  # it runs on its sync period, as upstream

    def __init__(
        self, store: Store, prometheus: PrometheusController, sync_s: float = 15.0
    ) -> None:
        super().__init__(store)
        self.resync_s = sync_s
        self.metrics = MetricsApi(store, prometheus)
        self._hpas: dict[str, HorizontalPodAutoscaler] = {}

    def reconcile(self) -> None:  # the async sync below does the work
        raise NotImplementedError

    async def run(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.resync_s)
            try:
                self._sync_keda()
                for hpa in list(self.store.items(KINDS["HorizontalPodAutoscaler"])):
                    await self._reconcile_one(copy.deepcopy(hpa))
            except Exception:
                logger.exception("%s: sync failed", self.name)

    def _sync_keda(self) -> None:
        for so in self.store.items(KINDS["ScaledObject"]):
            wanted = keda_hpa(so)
            ns = so["metadata"]["namespace"]
            live = self.store.peek(KINDS["HorizontalPodAutoscaler"], ns, wanted["metadata"]["name"])
            if live is None:
                self.store.create(KINDS["HorizontalPodAutoscaler"], ns, wanted)
            elif live["spec"] != {**live["spec"], **wanted["spec"]}:
                self.store.update(
                    KINDS["HorizontalPodAutoscaler"],
                    ns,
                    {**copy.deepcopy(live), "spec": wanted["spec"]},
                )

    def _autoscaler(self, hpa: Obj) -> HorizontalPodAutoscaler:
        uid = hpa["metadata"]["uid"]
        current = self._hpas.get(uid)
        fresh = HorizontalPodAutoscaler.from_manifest(hpa)
        if current is None:
            self._hpas[uid] = fresh
            return fresh
        current.spec = fresh.spec  # the recommendations and scale events stay (per HPA key)
        return current

    async def _reconcile_one(self, hpa: Obj) -> None:
        ns = hpa["metadata"]["namespace"]
        ref = hpa["spec"]["scaleTargetRef"]
        target_rt = KINDS.get(ref.get("kind", ""))
        target = self.store.peek(target_rt, ns, ref["name"]) if target_rt else None
        now = self.store.now()
        try:
            autoscaler = self._autoscaler(hpa)
        except _SpecError as exc:
            self.event(hpa, "Warning", "FailedComputeMetricsReplicas", str(exc))
            return
        if target is None:
            self.event(
                hpa,
                "Warning",
                "FailedGetScale",
                f'{ref.get("kind", "").lower()}s "{ref["name"]}" not found',
            )
            self._status(
                hpa,
                None,
                conditions=[
                    {
                        "type": "AbleToScale",
                        "status": "False",
                        "reason": "FailedGetScale",
                        "message": "the HPA controller was unable to get the target's "
                        f"current scale: {ref['kind']} {ref['name']} not found",
                        "lastTransitionTime": rfc3339(now),
                    }
                ],
            )
            return
        pods = [
            p
            for p in self.store.items(KINDS["Pod"], ns)
            if match_selector_object(
                target["spec"].get("selector"), p["metadata"].get("labels") or {}
            )
        ]
        names = [p["metadata"]["name"] for p in pods]
        per_pod: dict[str, dict[str, float]] = {n: {} for n in names}
        external: dict[str, list[float]] = {}
        failed: set[str] = set()
        for metric in hpa["spec"].get("metrics") or []:
            await self._read(ns, metric, names, per_pod, external, failed)
        decision = autoscaler.reconcile(
            now,
            int(target["spec"].get("replicas", 1)),
            [_pod_state(p, per_pod[p["metadata"]["name"]]) for p in pods],
            cluster=ClusterMetrics(external=external, failed=frozenset(failed)),
        )
        if decision.rescale:
            scaled = copy.deepcopy(self.store.get(target_rt, ns, ref["name"]))  # type: ignore[arg-type]
            scaled["spec"]["replicas"] = decision.desired_replicas
            self.store.update(target_rt, ns, scaled)  # type: ignore[arg-type]
            self.event(
                hpa,
                "Normal",
                "SuccessfulRescale",
                f"New size: {decision.desired_replicas}; reason: {decision.reason}",
            )
        self._status(hpa, decision)

    async def _read(
        self,
        ns: str,
        metric: dict[str, Any],
        names: list[str],
        per_pod: dict[str, dict[str, float]],
        external: dict[str, list[float]],
        failed: set[str],
    ) -> None:
        kind = metric.get("type")
        try:
            if kind == "Pods":
                name = metric["pods"]["metric"]["name"]
                for pod, value in (await self.metrics.pod_values(ns, name, names)).items():
                    if pod in per_pod:
                        per_pod[pod][name] = value
            elif kind == "External":
                source = metric["external"]["metric"]
                selector = (source.get("selector") or {}).get("matchLabels") or {}
                external[source["name"]] = await self.metrics.external_values(
                    ns, source["name"], selector
                )
            elif kind == "Resource":
                failed.add(metric["resource"]["name"])
        except MetricUnavailable as exc:
            logger.info("%s: %s", self.name, exc)
            key = metric.get(str(kind).lower(), {}).get("metric", {}).get("name", "")
            failed.add(key)

    def _status(
        self, hpa: Obj, decision: Decision | None, conditions: list[dict[str, Any]] | None = None
    ) -> None:
        old = hpa.get("status") or {}
        # desiredReplicas is required in the v2 status (no omitempty).
        status: dict[str, Any] = {
            "observedGeneration": hpa["metadata"].get("generation", 1),
            "desiredReplicas": old.get("desiredReplicas", 0),
        }
        if decision is not None:
            status["currentReplicas"] = decision.current_replicas
            status["desiredReplicas"] = decision.desired_replicas
            conditions = [
                {
                    "type": c.type,
                    "status": c.status,
                    "reason": c.reason,
                    "message": c.message,
                    "lastTransitionTime": rfc3339(c.last_transition),
                }
                for c in decision.conditions
            ]
            status["currentMetrics"] = self._current_metrics(hpa, decision)
            autoscaler = self._hpas.get(hpa["metadata"]["uid"])
            if autoscaler is not None and autoscaler.last_scale_time is not None:
                status["lastScaleTime"] = rfc3339(autoscaler.last_scale_time)
        status["conditions"] = conditions or []
        if status != old:
            self.write_status("HorizontalPodAutoscaler", hpa, status)

    @staticmethod
    def _current_metrics(hpa: Obj, decision: Decision) -> list[dict[str, Any]]:
        out = []
        for metric, proposal in zip(
            hpa["spec"].get("metrics") or [], decision.metrics, strict=False
        ):
            if proposal.current is None:
                continue
            kind = metric["type"]
            key = kind[0].lower() + kind[1:]
            source = metric[key]
            current: dict[str, Any] = {"averageValue": _quantity(proposal.current)}
            if kind == "Resource" and source["target"].get("type") == "Utilization":
                current = {"averageUtilization": proposal.current}
            entry = {k: v for k, v in source.items() if k != "target"}
            out.append({"type": kind, key: {**entry, "current": current}})
        return out
