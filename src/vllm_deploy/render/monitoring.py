"""PodMonitor, PrometheusRules (the cluster-wide rules; this deployment's SLO alerts) and the
dashboards for Grafana's sidecar."""

from __future__ import annotations

import json

from vllm_deploy.observability import ObservabilityConfig, dashboards, rules_document
from vllm_deploy.observability.generate import NAMESPACE_METRIC
from vllm_deploy.observability.slo import slo_rules_document
from vllm_deploy.render.common import Obj, metadata, selector_labels
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["dashboards_config_map", "pod_monitor", "prometheus_rule", "slo_rule"]


def _monitor_metadata(spec: DeploymentSpec, name: str) -> Obj:
    """With the labels the cluster's Prometheus selects its monitors and rules by."""
    meta = metadata(spec, name)
    meta["labels"].update(spec.observability.monitor_labels)
    return meta


def pod_monitor(spec: DeploymentSpec) -> Obj:
    # job="vllm" is what the rules and dashboards select on.
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _monitor_metadata(spec, spec.app_name),
        "spec": {
            "selector": {"matchLabels": selector_labels(spec)},
            "podMetricsEndpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "interval": "15s",
                    "relabelings": [
                        {"action": "replace", "targetLabel": "job", "replacement": "vllm"}
                    ],
                }
            ],
        },
    }


def prometheus_rule(spec: DeploymentSpec) -> Obj:
    # Cluster-wide rules: one object named for the bundle, not for a model.
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _monitor_metadata(spec, "vllm-deploy-rules"),
        "spec": rules_document(ObservabilityConfig()),
    }


def slo_rule(spec: DeploymentSpec) -> Obj:
    """This deployment's multi-window burn-rate alerts, with the thresholds of its ``slo:``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _monitor_metadata(spec, f"{spec.app_name}-slo"),
        "spec": slo_rules_document(spec.slo, spec.namespace, spec.app_name),
    }


def dashboards_config_map(spec: DeploymentSpec) -> Obj:
    meta = metadata(spec, "vllm-deploy-dashboards")
    meta["labels"]["grafana_dashboard"] = "1"
    data = {
        f"{b.uid}.json": json.dumps(b.to_json(NAMESPACE_METRIC), indent=1)
        for b in dashboards(ObservabilityConfig())
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
