"""One replica proposal per metric source: ``computeReplicasForMetric`` and the
``computeStatusFor{Pods,Resource,Object,External}Metric`` functions of upstream's
``pkg/controller/podautoscaler/horizontal.go``, over the calculations of ``replicas.py``."""

from __future__ import annotations

from collections.abc import Sequence

from vllm_deploy.autoscale.quantity import milli_of
from vllm_deploy.autoscale.replicas import (
    MetricError,
    PodState,
    Tolerances,
    group_pods,
    object_value_replicas,
    per_pod_replicas,
    plain_metric_replicas,
    resource_utilization_replicas,
)
from vllm_deploy.autoscale.spec import MetricSpec
from vllm_deploy.autoscale.status import ClusterMetrics, ControllerConfig, MetricProposal

__all__ = ["propose"]

_NO_SAMPLES = {
    "Pods": "no metrics returned from custom metrics API",
    "Resource": "no metrics returned from resource metrics API",
}


def propose(
    metric: MetricSpec,
    current: int,
    status_replicas: int,
    pods: Sequence[PodState],
    cluster: ClusterMetrics,
    now: float,
    config: ControllerConfig,
    tolerances: Tolerances,
) -> MetricProposal:
    """``computeReplicasForMetric``: one proposal, or the error that replaces it."""
    if metric.key in cluster.failed:
        raise MetricError(f"unable to get metric {metric.key}: the metrics API did not answer")
    if metric.type in ("Pods", "Resource"):
        samples = {p.name: milli_of(p.metrics[metric.key]) for p in pods if metric.key in p.metrics}
        if not samples:
            raise MetricError(f"unable to get metric {metric.key}: {_NO_SAMPLES[metric.type]}")
        resource = metric.key if metric.type == "Resource" else None
        grouped = group_pods(
            pods,
            samples,
            resource,
            now,
            config.cpu_initialization_period_s,
            config.initial_readiness_delay_s,
        )
        if metric.target_type == "Utilization":
            replicas, util, _ = resource_utilization_replicas(
                current, metric.target, metric.key, pods, samples, tolerances, grouped
            )
            return MetricProposal(metric.description, replicas, util)
        replicas, usage = plain_metric_replicas(
            current, metric.target, pods, samples, tolerances, grouped
        )
        return MetricProposal(metric.description, replicas, usage)
    if metric.type == "Object":
        if metric.key not in cluster.objects:
            raise MetricError(f"unable to get metric {metric.key}: no value for the object")
        usage = milli_of(cluster.objects[metric.key])
    else:
        if metric.key not in cluster.external:
            raise MetricError(f"unable to get external metric {metric.key}: no series")
        usage = sum(milli_of(v) for v in cluster.external[metric.key])
    if metric.target_type == "AverageValue":
        replicas, per_pod = per_pod_replicas(status_replicas, usage, metric.target, tolerances)
        return MetricProposal(metric.description, replicas, per_pod)
    return MetricProposal(
        metric.description,
        object_value_replicas(current, usage, metric.target, pods, tolerances),
        usage,
    )
