"""Who decides the replica count: an HPA (our port of upstream's), a fixed fleet, or a schedule.

Every policy runs on the same pods, lifecycle and load balancer; only the decision differs.

The seed's policy is recorded here as this project defines it: the HPA the seed shipped
scaled on CPU utilization 70% and ``vllm:num_requests_waiting`` 10 per pod; its behaviour
block is not in this repository, so ``SEED_BEHAVIOR`` is a conventional one (scale up one pod
a minute after a 60 s window, down one pod a minute after 300 s).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vllm_deploy.autoscale import ClusterMetrics, Decision, HorizontalPodAutoscaler, PodState
from vllm_deploy.render import autoscaling
from vllm_deploy.spec.models import DeploymentSpec

__all__ = [
    "SEED_BEHAVIOR",
    "FixedPolicy",
    "HpaPolicy",
    "Policy",
    "SchedulePolicy",
    "SimError",
    "keda_as_hpa",
    "policy_for_spec",
    "seed_hpa",
]

Signal = Literal["waiting", "running", "gpu_util", "cpu", "kv"]
# HPA metric keys the simulator can produce, and the pod signal each one reads.
POD_SIGNALS: dict[str, Signal] = {
    autoscaling.ADAPTER_METRIC: "waiting",
    autoscaling.QUEUE_METRIC: "waiting",
    "vllm_num_requests_running": "running",
    "vllm:num_requests_running": "running",
    "vllm:kv_cache_usage_perc": "kv",
    autoscaling.GPU_METRIC: "gpu_util",
    "cpu": "cpu",
}
# KEDA's prometheus trigger becomes External metric "s0-prometheus": the sum of the query.
EXTERNAL_SIGNALS: dict[str, Signal] = {"s0-prometheus": "waiting"}
SEED_BEHAVIOR: dict[str, Any] = {
    "scaleUp": {
        "stabilizationWindowSeconds": 60,
        "selectPolicy": "Max",
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 300,
        "selectPolicy": "Max",
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    },
}


class SimError(ValueError):
    """The simulation cannot run as asked: the message names what and why."""


@dataclass
class HpaPolicy:
    """The HPA as rendered (or as KEDA would create it), reconciled every sync period."""

    name: str
    manifest: Mapping[str, Any]
    hpa: HorizontalPodAutoscaler = field(init=False)
    decisions: list[Decision] = field(default_factory=list)
    needs_pods = True

    def __post_init__(self) -> None:
        self.hpa = HorizontalPodAutoscaler.from_manifest(self.manifest)
        for metric in self.hpa.spec.metrics:
            known = POD_SIGNALS if metric.type in ("Pods", "Resource") else EXTERNAL_SIGNALS
            if metric.key not in known:
                raise SimError(
                    f"{self.name}: metric {metric.key!r} ({metric.type}) "
                    f"has no model in the simulator; it knows {sorted(known)}"
                )

    def initial_replicas(self) -> int:
        return self.hpa.spec.min_replicas

    def decide(
        self, now: float, current: int, pods: Sequence[PodState], cluster: ClusterMetrics
    ) -> int:
        decision = self.hpa.reconcile(now, current, pods, cluster)
        self.decisions.append(decision)
        return decision.desired_replicas


@dataclass
class FixedPolicy:
    name: str
    replicas: int
    needs_pods = False

    def initial_replicas(self) -> int:
        return self.replicas

    def decide(
        self, now: float, current: int, pods: Sequence[PodState], cluster: ClusterMetrics
    ) -> int:
        return self.replicas


@dataclass
class SchedulePolicy:
    """Replicas as a step function of time (the oracle): ``replicas[i]`` from ``times[i]`` on."""

    name: str
    times: list[float]
    replicas: list[int]
    needs_pods = False

    def initial_replicas(self) -> int:
        return self.replicas[0]

    def decide(
        self, now: float, current: int, pods: Sequence[PodState], cluster: ClusterMetrics
    ) -> int:
        return self.replicas[max(0, bisect.bisect_right(self.times, now) - 1)]


Policy = HpaPolicy | FixedPolicy | SchedulePolicy


def seed_hpa(spec: DeploymentSpec) -> dict[str, Any]:
    """The seed's HPA on this spec's deployment: CPU 70% + waiting 10 per pod, ``SEED_BEHAVIOR``."""
    manifest = copy.deepcopy(autoscaling.hpa(spec))
    manifest["metadata"]["name"] = f"{spec.app_name}-seed"
    manifest["spec"]["metrics"] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        },
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": autoscaling.ADAPTER_METRIC},
                "target": {"type": "AverageValue", "averageValue": "10"},
            },
        },
    ]
    manifest["spec"]["behavior"] = copy.deepcopy(SEED_BEHAVIOR)
    return manifest


def keda_as_hpa(scaled_object: Mapping[str, Any]) -> dict[str, Any]:
    """The HPA KEDA creates for a ScaledObject with one prometheus trigger: an External
    metric ``s0-prometheus`` with an AverageValue target of the trigger's threshold."""
    spec = scaled_object["spec"]
    (trigger,) = spec["triggers"]
    hpa_spec: dict[str, Any] = {
        "scaleTargetRef": spec["scaleTargetRef"],
        "minReplicas": spec.get("minReplicaCount", 0),
        "maxReplicas": spec.get("maxReplicaCount", 100),
        "metrics": [
            {
                "type": "External",
                "external": {
                    "metric": {"name": "s0-prometheus"},
                    "target": {
                        "type": "AverageValue",
                        "averageValue": trigger["metadata"]["threshold"],
                    },
                },
            }
        ],
    }
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    if behavior is not None:
        hpa_spec["behavior"] = behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"keda-hpa-{scaled_object['metadata']['name']}"},
        "spec": hpa_spec,
    }


def policy_for_spec(spec: DeploymentSpec, name: str = "spec") -> Policy:
    """The spec's own autoscaling as rendered: its HPA, KEDA's HPA, or a fixed replica count."""
    if not spec.autoscaling.enabled:
        return FixedPolicy(name, spec.replicas)
    if spec.autoscaling.engine == "keda":
        return HpaPolicy(name, keda_as_hpa(autoscaling.keda_scaled_object(spec)))
    return HpaPolicy(name, autoscaling.hpa(spec))
