"""HPA (autoscaling/v2) on the per-pod queue, with its prometheus-adapter rules, or KEDA.

The queue (``vllm:num_requests_waiting``) is the signal: it rises when the batch is full,
before latency suffers. GPU utilisation is an opt-in second metric; CPU utilisation (what a
plain HPA uses) says little about a GPU server and is opt-in only.
"""

from __future__ import annotations

import yaml

from vllm_deploy.contract import ADAPTER_RULES_LABEL
from vllm_deploy.render.common import Obj, metadata
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["ADAPTER_METRIC", "QUEUE_METRIC", "adapter_rules", "hpa", "keda_scaled_object"]

QUEUE_METRIC = "vllm:num_requests_waiting"
ADAPTER_METRIC = "vllm_num_requests_waiting"  # custom-metrics API names cannot hold colons
GPU_METRIC = "DCGM_FI_DEV_GPU_UTIL"


def _target(spec: DeploymentSpec) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.app_name}


def _pods_metric(name: str, average: str) -> Obj:
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": name},
            "target": {"type": "AverageValue", "averageValue": average},
        },
    }


def hpa(spec: DeploymentSpec) -> Obj:
    a = spec.autoscaling
    metrics = [_pods_metric(ADAPTER_METRIC, f"{a.target_waiting_per_pod:g}")]
    if a.gpu_utilisation_target:
        metrics.append(_pods_metric(GPU_METRIC, str(a.gpu_utilisation_target)))
    if a.cpu_utilisation_target:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": a.cpu_utilisation_target,
                    },
                },
            }
        )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(spec, spec.app_name),
        "spec": {
            "scaleTargetRef": _target(spec),
            "minReplicas": a.min_replicas,
            "maxReplicas": a.max_replicas,
            "metrics": metrics,
            "behavior": _behavior(spec),
        },
    }


def _behavior(spec: DeploymentSpec) -> Obj:
    """Up at once (a queue is waiting), down slowly (a new replica costs a model load)."""
    a = spec.autoscaling
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": a.scale_up_pods, "periodSeconds": a.scale_up_period_s},
                {
                    "type": "Percent",
                    "value": a.scale_up_percent,
                    "periodSeconds": a.scale_up_period_s,
                },
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": spec.autoscaling.scale_down_stabilisation_s,
            "selectPolicy": "Min",
            "policies": [
                {"type": "Pods", "value": a.scale_down_pods, "periodSeconds": a.scale_down_period_s}
            ],
        },
    }


def adapter_rules(spec: DeploymentSpec) -> Obj:
    """prometheus-adapter rules that serve the HPA's Pods metrics (merge into its config)."""
    rules = [
        {
            "seriesQuery": f'{QUEUE_METRIC}{{namespace!="",pod!=""}}',
            "resources": {
                "overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
            },
            "name": {"matches": f"^{QUEUE_METRIC}$", "as": ADAPTER_METRIC},
            "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
        }
    ]
    if spec.autoscaling.gpu_utilisation_target:
        rules.append(
            {
                "seriesQuery": f'{GPU_METRIC}{{namespace!="",pod!=""}}',
                "resources": {
                    "overrides": {
                        "namespace": {"resource": "namespace"},
                        "pod": {"resource": "pod"},
                    }
                },
                "name": {"matches": f"^{GPU_METRIC}$", "as": GPU_METRIC},
                "metricsQuery": "avg(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
            }
        )
    meta = metadata(spec, f"{spec.app_name}-adapter-rules")
    meta["labels"][ADAPTER_RULES_LABEL] = "true"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {"rules.yaml": yaml.safe_dump({"rules": rules}, sort_keys=False)},
    }


def keda_scaled_object(spec: DeploymentSpec) -> Obj:
    a = spec.autoscaling
    query = f'sum({QUEUE_METRIC}{{namespace="{spec.namespace}", model_name="{spec.model.name}"}})'
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(spec, spec.app_name),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": spec.app_name,
            },
            "minReplicaCount": a.min_replicas,
            "maxReplicaCount": a.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": a.scale_down_stabilisation_s,
            # The HPA KEDA manages scales like ours, not with Kubernetes' defaults.
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(spec)}},
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": a.prometheus_url,
                        "query": query,
                        "threshold": f"{a.target_waiting_per_pod:g}",
                        "activationThreshold": "0",
                    },
                }
            ],
        },
    }
