"""Where the local HPA controller gets metric values: the custom and external metrics APIs as
prometheus-adapter and KEDA serve them, from the cluster's real Prometheus.

- Pods metrics: the prometheus-adapter rule (from ConfigMaps labelled
  ``vllm-deploy.io/prometheus-adapter-rules``) whose ``name.as`` is the metric's name; its
  ``metricsQuery`` template is filled as the adapter fills it (docs/config.md of
  kubernetes-sigs/prometheus-adapter: ``<<.Series>>``, ``<<.LabelMatchers>>`` with the
  namespace and ``pod=~"a|b"``, ``<<.GroupBy>>`` the pod label) and answered per pod.
- External metrics: a KEDA ScaledObject's prometheus trigger (``metadata.query``), for the
  HPA that KEDA manages (selector ``scaledobject.keda.sh/name``; KEDA's metric names are
  ``s<i>-prometheus``); the query's value, as KEDA's metrics server returns it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from vllm_deploy.contract import ADAPTER_RULES_LABEL
from vllm_deploy.local.controllers.base import KINDS
from vllm_deploy.local.prometheus import PrometheusController
from vllm_deploy.local.store import Obj, Store

__all__ = ["KEDA_SCALED_OBJECT_LABEL", "MetricUnavailable", "MetricsApi"]

KEDA_SCALED_OBJECT_LABEL = "scaledobject.keda.sh/name"
_SERIES = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


class MetricUnavailable(Exception):
    """The metrics API cannot serve the metric (no rule, no trigger, a failed query)."""


class MetricsApi:
    """Usage: ``values = await api.pod_values("llm", "vllm_num_requests_waiting", ["pod-a"])``."""

    def __init__(self, store: Store, prometheus: PrometheusController) -> None:
        self.store, self.prometheus = store, prometheus

    def _adapter_rules(self, namespace: str) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for cm in self.store.items(KINDS["ConfigMap"]):
            if (cm["metadata"].get("labels") or {}).get(ADAPTER_RULES_LABEL) != "true":
                continue
            doc = yaml.safe_load((cm.get("data") or {}).get("rules.yaml", "") or "") or {}
            rules += doc.get("rules") or []
        return rules

    @staticmethod
    def _exposed_name(rule: dict[str, Any], series: str) -> str:
        naming = rule.get("name") or {}
        if "matches" in naming:
            return (
                re.sub(naming["matches"], naming.get("as", ""), series)
                if naming.get("as")
                else series
            )
        return series

    def pod_metric_names(self) -> set[str]:
        """The Pods metrics the adapter rules expose (its discovery document lists them)."""
        names = set()
        for rule in self._adapter_rules(""):
            match = _SERIES.match(rule.get("seriesQuery", ""))
            if match is not None:
                names.add(self._exposed_name(rule, match.group(1)))
        return names

    async def pod_values(self, namespace: str, metric: str, pods: list[str]) -> dict[str, float]:
        """The metric per pod (pods without a sample are absent)."""
        for rule in self._adapter_rules(namespace):
            match = _SERIES.match(rule.get("seriesQuery", ""))
            if match is None or self._exposed_name(rule, match.group(1)) != metric:
                continue
            overrides = (rule.get("resources") or {}).get("overrides") or {}
            labels = {v.get("resource"): k for k, v in overrides.items()}
            ns_label, pod_label = labels.get("namespace", "namespace"), labels.get("pod", "pod")
            if not pods:
                return {}
            # Pod names are DNS names, joined as the adapter joins them (no escaping needed).
            matchers = f'{ns_label}="{namespace}",{pod_label}=~"{"|".join(pods)}"'
            query = (
                rule["metricsQuery"]
                .replace("<<.Series>>", match.group(1))
                .replace("<<.LabelMatchers>>", matchers)
                .replace("<<.GroupBy>>", pod_label)
            )
            try:
                series = await self.prometheus.query(query)
            except Exception as exc:
                raise MetricUnavailable(
                    f"unable to fetch metrics from custom metrics API: {exc}"
                ) from None
            return {s[pod_label]: value for s, value in series if pod_label in s}
        raise MetricUnavailable(
            f"unable to get metric {metric}: no prometheus-adapter rule serves it "
            f"(a ConfigMap labelled {ADAPTER_RULES_LABEL}=true)"
        )

    async def external_values(
        self, namespace: str, metric: str, selector: dict[str, str]
    ) -> list[float]:
        """The values of an External metric: a KEDA ScaledObject trigger's query."""
        name = selector.get(KEDA_SCALED_OBJECT_LABEL)
        so = self.store.peek(KINDS["ScaledObject"], namespace, name) if name else None
        match = re.fullmatch(r"s(\d+)-prometheus", metric)
        if so is None or match is None:
            raise MetricUnavailable(
                f"unable to get external metric {namespace}/{metric}: no ScaledObject serves it"
            )
        triggers = so["spec"].get("triggers") or []
        index = int(match.group(1))
        if index >= len(triggers) or triggers[index].get("type") != "prometheus":
            raise MetricUnavailable(f"ScaledObject {name} has no prometheus trigger {index}")
        try:
            series = await self.prometheus.query(triggers[index]["metadata"]["query"])
        except Exception as exc:
            raise MetricUnavailable(f"unable to get external metric {metric}: {exc}") from None
        # KEDA's prometheus scaler: an empty result is 0 (ignoreNullValues defaults to true).
        return [value for _, value in series] or [0.0]


def keda_hpa(so: Obj) -> Obj:
    """The HPA KEDA creates for a ScaledObject (keda pkg/scaling/scaledobject: keda-hpa-<name>)."""
    spec = so["spec"]
    name = so["metadata"]["name"]
    metrics = [
        {
            "type": "External",
            "external": {
                "metric": {
                    "name": f"s{i}-{t['type']}",
                    "selector": {"matchLabels": {KEDA_SCALED_OBJECT_LABEL: name}},
                },
                "target": {"type": "AverageValue", "averageValue": str(t["metadata"]["threshold"])},
            },
        }
        for i, t in enumerate(spec.get("triggers") or [])
    ]
    body: Obj = {
        "scaleTargetRef": spec["scaleTargetRef"],
        "minReplicas": spec.get("minReplicaCount", 1),
        "maxReplicas": spec.get("maxReplicaCount", 100),
        "metrics": metrics,
    }
    behavior = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get(
        "behavior"
    )
    if behavior:
        body["behavior"] = behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": f"keda-hpa-{name}",
            "labels": {KEDA_SCALED_OBJECT_LABEL: name},
            "ownerReferences": [
                {
                    "apiVersion": so["apiVersion"],
                    "kind": "ScaledObject",
                    "name": name,
                    "uid": so["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": body,
    }
