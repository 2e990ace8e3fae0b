"""The Kubernetes HPA algorithm, ported from upstream; used by the local cluster and the
simulator."""

from vllm_deploy.autoscale.hpa import (
    ClusterMetrics,
    Condition,
    ControllerConfig,
    Decision,
    HorizontalPodAutoscaler,
    MetricProposal,
)
from vllm_deploy.autoscale.replicas import PodState, Tolerances
from vllm_deploy.autoscale.spec import HpaSpec, HpaSpecError, parse_hpa

__all__ = [
    "ClusterMetrics",
    "Condition",
    "ControllerConfig",
    "Decision",
    "HorizontalPodAutoscaler",
    "HpaSpec",
    "HpaSpecError",
    "MetricProposal",
    "PodState",
    "Tolerances",
    "parse_hpa",
]
