"""What the HPA port takes and gives: controller flags, cluster metrics, conditions, decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ClusterMetrics",
    "Condition",
    "ConditionType",
    "ControllerConfig",
    "Decision",
    "MetricProposal",
]

ConditionType = Literal["AbleToScale", "ScalingActive", "ScalingLimited"]


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """kube-controller-manager's ``--horizontal-pod-autoscaler-*`` flags."""

    tolerance: float = 0.1
    downscale_stabilization_s: float = 300.0
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0
    sync_period_s: float = 15.0


@dataclass(frozen=True, slots=True)
class ClusterMetrics:
    """Metrics that are not per pod: Object values and External series, by metric name."""

    objects: Mapping[str, float] = field(default_factory=dict)
    external: Mapping[str, Sequence[float]] = field(default_factory=dict)
    failed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Condition:
    type: ConditionType
    status: Literal["True", "False"]
    reason: str
    message: str
    last_transition: float


@dataclass(frozen=True, slots=True)
class MetricProposal:
    metric: str
    replicas: int | None
    current: int | None  # milli-units, or a percentage for Utilization targets
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    time: float
    current_replicas: int
    desired_replicas: int
    rescale: bool
    reason: str  # the rescale reason, as in the SuccessfulRescale event ("" when unchanged)
    message: str  # one human-readable line
    conditions: tuple[Condition, ...]
    metrics: tuple[MetricProposal, ...]
    error: str | None = None
