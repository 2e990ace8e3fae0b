"""Replica proposals per metric: a port of ``pkg/controller/podautoscaler/replica_calculator.go``.

Values are milli-units (int), as the metrics APIs carry them, and divisions truncate as Go's
integer division does, so the proposals match upstream's to the replica.

- ``group_pods`` (``groupPods``): deleting and terminal pods are ignored; Pending pods are
  unready; pods without a sample are missing; for CPU only, the readiness rules of the
  initialization period decide whether a sample counts.
- ``plain_metric_replicas`` (``calcPlainMetricReplicas``, for Pods metrics and Resource
  AverageValue targets) and ``resource_utilization_replicas`` (``GetResourceReplicas``) share
  the algorithm: within tolerance keep the count; missing pods count as the target
  (utilization: ``max(100, target)``% of the request) on a scale-down and as 0 on a
  scale-up; unready pods count as 0 on a scale-up; never flip the direction.
- ``object_value_replicas`` (``GetObjectMetricReplicas``/``GetExternalMetricReplicas`` via
  ``getUsageRatioReplicaCount``) and ``per_pod_replicas`` (``GetObjectPerPodMetricReplicas``,
  ``GetExternalPerPodMetricReplicas``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "INT32_MAX",
    "MetricError",
    "PodState",
    "Tolerances",
    "group_pods",
    "object_value_replicas",
    "per_pod_replicas",
    "plain_metric_replicas",
    "resource_utilization_replicas",
]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]


class MetricError(Exception):
    """The metric could not give a proposal (upstream returns an error): the message says why."""


@dataclass(frozen=True, slots=True)
class PodState:
    """One pod as the HPA sees it, on the caller's clock (seconds).

    ``ready`` is the Ready condition's status (None: the pod has no Ready condition yet);
    ``ready_since`` its lastTransitionTime; ``started`` is ``status.startTime``. ``metrics``
    holds the latest sample per metric key (the metric name, or ``cpu``/``memory`` in cores or
    bytes); a key that is absent is a missing sample. ``requests`` are the pod's resource
    requests (sum over containers). ``sampled_at``/``sample_window_s`` are the resource
    metric's timestamp and window (CPU rules only; None: the sample is from now).
    """

    name: str
    phase: Phase = "Running"
    ready: bool | None = True
    ready_since: float | None = None
    started: float | None = None
    deleting: bool = False
    metrics: Mapping[str, float] = field(default_factory=dict)
    requests: Mapping[str, float] = field(default_factory=dict)
    sampled_at: float | None = None
    sample_window_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Tolerances:
    """``Tolerances.isWithin``: a ratio in [1 - down, 1 + up] keeps the current count."""

    down: float = 0.1
    up: float = 0.1

    def within(self, ratio: float) -> bool:
        return (1.0 - self.down) <= ratio <= (1.0 + self.up)


@dataclass(frozen=True, slots=True)
class Grouped:
    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def _div(a: int, b: int) -> int:
    """Go's integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _ceil_int32(x: float) -> int:
    return INT32_MAX if x > INT32_MAX else math.ceil(x)


def group_pods(
    pods: Sequence[PodState],
    samples: Mapping[str, int],
    resource: str | None,
    now: float,
    cpu_initialization_period_s: float,
    initial_readiness_delay_s: float,
) -> Grouped:
    """``groupPods``: which pods count, which are unready, missing or ignored."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        if pod.deleting or pod.phase in ("Succeeded", "Failed"):
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        if pod.name not in samples:
            missing.add(pod.name)
            continue
        if resource == "cpu":
            if pod.ready is None or pod.started is None:
                is_unready = True
            else:
                since = -math.inf if pod.ready_since is None else pod.ready_since
                if pod.started + cpu_initialization_period_s > now:
                    # Still initializing: a sample counts once one full window follows readiness.
                    taken = now if pod.sampled_at is None else pod.sampled_at
                    is_unready = pod.ready is False or taken < since + pod.sample_window_s
                else:
                    # Later: ignore it only if it is unready and has never been ready.
                    is_unready = (
                        pod.ready is False and pod.started + initial_readiness_delay_s > since
                    )
            if is_unready:
                unready.add(pod.name)
                continue
        ready += 1
    return Grouped(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _usage_ratio(values: Mapping[str, int], target: int) -> tuple[float, int]:
    """``GetMetricUsageRatio``: the average (integer division) over the target."""
    usage = _div(sum(values.values()), len(values))
    return usage / target, usage


def plain_metric_replicas(
    current: int,
    target: int,
    pods: Sequence[PodState],
    samples: Mapping[str, int],
    tolerances: Tolerances,
    grouped: Grouped,
) -> tuple[int, int]:
    """``calcPlainMetricReplicas``: (replicas, average usage in milli-units)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    values = {
        n: v for n, v in samples.items() if n not in grouped.ignored and n not in grouped.unready
    }
    if not values:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, usage = _usage_ratio(values, target)
    scale_up_with_unready = bool(grouped.unready) and ratio > 1.0
    if not scale_up_with_unready and not grouped.missing:
        if tolerances.within(ratio):
            return current, usage
        return _ceil_int32(ratio * grouped.ready_count), usage
    if grouped.missing:
        fill = target if ratio < 1.0 else 0
        if ratio != 1.0:
            values.update(dict.fromkeys(grouped.missing, fill))
    if scale_up_with_unready:
        values.update(dict.fromkeys(grouped.unready, 0))
    new_ratio, _ = _usage_ratio(values, target)
    return _settle(current, ratio, new_ratio, len(values), tolerances), usage


def _settle(
    current: int, ratio: float, new_ratio: float, count: int, tolerances: Tolerances
) -> int:
    """The common end of both calculations: keep the count when the filled-in data is within
    tolerance or would reverse the direction of the change."""
    if tolerances.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposal = _ceil_int32(new_ratio * count)
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def _utilization(
    values: Mapping[str, int], requests: Mapping[str, int], target: int
) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, utilization %, raw average)."""
    used = [(v, requests[n]) for n, v in values.items() if n in requests]
    total_requests = sum(r for _, r in used)
    if total_requests == 0:
        raise MetricError("no metrics returned matched known pods")
    total = sum(v for v, _ in used)
    utilization = _div(total * 100, total_requests)
    return utilization / target, utilization, _div(total, len(used))


def resource_utilization_replicas(
    current: int,
    target_percent: int,
    resource: str,
    pods: Sequence[PodState],
    samples: Mapping[str, int],
    tolerances: Tolerances,
    grouped: Grouped,
) -> tuple[int, int, int]:
    """``GetResourceReplicas``: (replicas, utilization %, raw average in milli-units)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    values = {
        n: v for n, v in samples.items() if n not in grouped.ignored and n not in grouped.unready
    }
    if not values:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    requests: dict[str, int] = {}
    for pod in pods:  # calculateRequests: every listed pod needs a request
        if resource not in pod.requests:
            raise MetricError(f"missing request for {resource} in Pod {pod.name}")
        requests[pod.name] = math.ceil(round(pod.requests[resource] * 1000.0, 6))
    ratio, utilization, raw = _utilization(values, requests, target_percent)
    scale_up_with_unready = bool(grouped.unready) and ratio > 1.0
    if not scale_up_with_unready and not grouped.missing:
        if tolerances.within(ratio):
            return current, utilization, raw
        return _ceil_int32(ratio * grouped.ready_count), utilization, raw
    if grouped.missing:
        if ratio < 1.0:
            fallback = max(100, target_percent)
            values.update({n: _div(requests[n] * fallback, 100) for n in grouped.missing})
        elif ratio > 1.0:
            values.update(dict.fromkeys(grouped.missing, 0))
    if scale_up_with_unready:
        values.update(dict.fromkeys(grouped.unready, 0))
    new_ratio, _, _ = _utilization(values, requests, target_percent)
    return _settle(current, ratio, new_ratio, len(values), tolerances), utilization, raw


def ready_pod_count(pods: Sequence[PodState]) -> int:
    """``getReadyPodsCount``: Running and Ready."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


def object_value_replicas(
    current: int, usage: int, target: int, pods: Sequence[PodState], tolerances: Tolerances
) -> int:
    """``getUsageRatioReplicaCount`` (Object and External metrics with a Value target)."""
    ratio = usage / target
    if current == 0:
        return math.ceil(ratio)
    if tolerances.within(ratio):
        return current
    return _ceil_int32(ratio * ready_pod_count(pods))


def per_pod_replicas(
    status_replicas: int, usage: int, target: int, tolerances: Tolerances
) -> tuple[int, int]:
    """``GetObjectPerPodMetricReplicas``/``GetExternalPerPodMetricReplicas``: (replicas,
    usage per pod)."""
    replicas = status_replicas
    ratio = usage / (target * replicas) if replicas else math.inf if usage else math.nan
    if not tolerances.within(ratio):
        replicas = _ceil_int32(usage / target)
    per_pod = (
        0
        if status_replicas == 0
        else (INT64_MAX if usage >= INT64_MAX else math.ceil(usage / status_replicas))
    )
    return replicas, per_pod
