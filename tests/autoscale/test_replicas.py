"""Replica proposals per metric, table-driven from upstream's own cases.

Source: kubernetes/kubernetes ``pkg/controller/podautoscaler/replica_calculator_test.go``
(read at omerap12/kubernetes@a769d58): ``TestReplicaCalcResourceScale``,
``TestReplicaCalcResourceTolerance``, ``TestReplicaCalcResourceMissingMetrics``,
``TestReplicaCalcPodMetric``, ``TestReplicaCalcObjectMetric``,
``TestReplicaCalcObjectPerPodMetric``, ``TestReplicaCalcExternalMetric``,
``TestReplicaCalcExternalPerPodMetric``. Their fake pods have two containers with the given
CPU request each and report ``level`` millicores per container: here a pod requests
``2 x request`` and uses ``2 x level``. Their Ready condition and metric timestamps are zero
times (here 0.0); "now" and "3 minutes ago" start times are 10 000 s and 9 820 s; the
controller constants are the testing ones (tolerance 0.1, CPU initialization 2 min,
readiness delay 10 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vllm_deploy.autoscale.replicas import (
    INT32_MAX,
    MetricError,
    PodState,
    Tolerances,
    group_pods,
    object_value_replicas,
    per_pod_replicas,
    plain_metric_replicas,
    resource_utilization_replicas,
)

NOW, THREE_MIN_AGO = 10_000.0, 10_000.0 - 180
DEFAULT = Tolerances(0.1, 0.1)


@dataclass
class Fixture:
    current: int
    levels: list[int]  # per container (x2 per pod) for CPU; per pod for custom metrics
    readiness: list[bool] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    deleting: list[bool] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    request: float = 1.0
    pods: int | None = None

    def pod_list(self, metric: str) -> list[PodState]:
        count = max(self.pods or self.current, len(self.phases))
        out = []
        for i in range(count):
            value = {}
            if i < len(self.levels):
                value = {
                    metric: 2 * self.levels[i] / 1000 if metric == "cpu" else self.levels[i] / 1000
                }
            out.append(
                PodState(
                    f"test-pod-{i}",
                    phase=self.phases[i] if self.phases else "Running",  # type: ignore[arg-type]
                    ready=self.readiness[i] if i < len(self.readiness) else True,
                    ready_since=0.0,
                    started=self.starts[i] if self.starts else 0.0,
                    deleting=self.deleting[i] if self.deleting else False,
                    metrics=value,
                    requests={"cpu": 2 * self.request},
                    sampled_at=0.0,
                )
            )
        return out


def _samples(pods: list[PodState], key: str) -> dict[str, int]:
    return {p.name: round(p.metrics[key] * 1000) for p in pods if key in p.metrics}


def _resource(fx: Fixture, target: int, tol: Tolerances = DEFAULT) -> tuple[int, int, int]:
    pods = fx.pod_list("cpu")
    samples = _samples(pods, "cpu")
    grouped = group_pods(pods, samples, "cpu", NOW, 120, 10)
    return resource_utilization_replicas(fx.current, target, "cpu", pods, samples, tol, grouped)


RUNNING, PENDING, FAILED, SUCCEEDED = "Running", "Pending", "Failed", "Succeeded"
T, F = True, False

RESOURCE_CASES = [
    # name, fixture, target %, replicas, utilization, raw (millicores per pod)
    ("scale up", Fixture(3, [300, 500, 700]), 30, 5, 50, 1000),
    ("scale up: unready pod scales less", Fixture(3, [300, 500, 700], readiness=[F, T, T]), 30, 4, 60, 1200),
    ("scale up: hot-CPU pod scales less", Fixture(3, [300, 500, 700], starts=[NOW, THREE_MIN_AGO, THREE_MIN_AGO]), 30, 4, 60, 1200),
    ("no scale: unready pods ignored", Fixture(3, [400, 500, 700], readiness=[T, F, F]), 30, 3, 40, 800),
    ("no scale: hot-CPU pods ignored", Fixture(3, [400, 500, 700], readiness=[T, F, F], starts=[THREE_MIN_AGO, NOW, NOW]), 30, 3, 40, 800),
    ("scale up: failed pods ignored", Fixture(2, [500, 700], readiness=[T, T, F, F], phases=[RUNNING, RUNNING, FAILED, FAILED]), 30, 4, 60, 1200),
    ("scale up: succeeded pods ignored", Fixture(2, [500, 700], readiness=[T, T, F, F], phases=[RUNNING, RUNNING, SUCCEEDED, SUCCEEDED]), 30, 4, 60, 1200),
    ("scale up: pods being deleted are ignored", Fixture(2, [500, 700], readiness=[T, T, F, F], phases=[RUNNING] * 4, deleting=[F, F, T, T]), 30, 4, 60, 1200),
    ("scale down", Fixture(5, [100, 300, 500, 250, 250]), 50, 3, 28, 560),
    ("scale down: exclude unready pods", Fixture(5, [100, 300, 500, 250, 250], readiness=[T, T, T, F, F]), 50, 2, 30, 600),
    ("scale down: exclude unscheduled pods", Fixture(5, [100], readiness=[T, F, F, F, F], phases=[RUNNING, PENDING, PENDING, PENDING, PENDING]), 50, 1, 10, 200),
    ("scale down: ignore hot-CPU pods", Fixture(5, [100, 300, 500, 250, 250], starts=[THREE_MIN_AGO] * 3 + [NOW] * 2), 50, 2, 30, 600),
    ("scale down: failed pods ignored", Fixture(5, [100, 300, 500, 250, 250], readiness=[T] * 5 + [F, F], phases=[RUNNING] * 5 + [FAILED] * 2), 50, 3, 28, 560),
    ("scale down: succeeded pods ignored", Fixture(5, [100, 300, 500, 250, 250], readiness=[T] * 5 + [F, F], phases=[RUNNING] * 5 + [SUCCEEDED] * 2), 50, 3, 28, 560),
    ("scale down: pods being deleted are ignored", Fixture(5, [100, 300, 500, 250, 250], readiness=[T] * 5 + [F, F], phases=[RUNNING] * 7, deleting=[F] * 5 + [T, T]), 50, 3, 28, 560),
    # TestReplicaCalcResourceMissingMetrics
    ("some pods missing metrics scales down", Fixture(4, [400, 95]), 100, 3, 24, 495),
    ("no change: metric equal to target", Fixture(2, [1000]), 100, 2, 100, 2000),
    ("no change: metric above target", Fixture(2, [1900]), 100, 2, 190, 3800),
    ("no change: metric below target", Fixture(2, [600]), 100, 2, 60, 1200),
    ("no change: unready pod metric missing", Fixture(3, [100, 450], readiness=[F, T, T]), 50, 3, 45, 900),
    ("no change: hot-CPU pod metric missing", Fixture(3, [100, 450], starts=[NOW, THREE_MIN_AGO, THREE_MIN_AGO]), 50, 3, 45, 900),
    ("scale up: unready pod metric missing", Fixture(3, [100, 2000], readiness=[F, T, T]), 50, 4, 200, 4000),
    ("scale up: hot-CPU pod metric missing", Fixture(3, [100, 2000], readiness=[F, T, T], starts=[NOW, THREE_MIN_AGO, THREE_MIN_AGO]), 50, 4, 200, 4000),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fx", "target", "replicas", "util", "raw"),
    RESOURCE_CASES,
    ids=[c[0] for c in RESOURCE_CASES],
)
def test_resource_utilization(
    name: str, fx: Fixture, target: int, replicas: int, util: int, raw: int
) -> None:
    assert _resource(fx, target) == (replicas, util, raw)


MIXED = [0.9, 1.0, 1.1]


def _mixed(levels: list[int]) -> Fixture:
    """TestReplicaCalcResourceTolerance's pods request 0.9, 1.0 and 1.1 CPU per container."""
    return Fixture(3, levels)


TOLERANCE_CASES = [
    ("within default tolerance", [1010, 1030, 1020], DEFAULT, 3, 102),
    ("outside 0% tolerance", [909, 1010, 1111], Tolerances(0.0, 0.0), 4, 101),
    ("within 200% scale-up tolerance", [1890, 1910, 1900], Tolerances(0.1, 2.0), 3, 190),
    ("outside 8% scale-up tolerance", [1100, 1080, 1090], Tolerances(2.0, 0.08), 4, 109),
    ("within 36% scale-down tolerance", [660, 640, 650], Tolerances(0.36, 0.1), 3, 65),
    ("outside 34% scale-down tolerance", [660, 640, 650], Tolerances(0.34, 0.1), 2, 65),
]


@pytest.mark.parametrize(
    ("name", "levels", "tol", "replicas", "util"),
    TOLERANCE_CASES,
    ids=[c[0] for c in TOLERANCE_CASES],
)
def test_resource_tolerance(
    name: str, levels: list[int], tol: Tolerances, replicas: int, util: int
) -> None:
    pods = [
        PodState(
            f"p{i}",
            ready_since=0.0,
            started=0.0,
            sampled_at=0.0,
            metrics={"cpu": 2 * levels[i] / 1000},
            requests={"cpu": 2 * MIXED[i]},
        )
        for i in range(3)
    ]
    samples = _samples(pods, "cpu")
    grouped = group_pods(pods, samples, "cpu", NOW, 120, 10)
    got, got_util, _ = resource_utilization_replicas(3, 100, "cpu", pods, samples, tol, grouped)
    assert (got, got_util) == (replicas, util)


POD_METRIC_CASES = [
    # name, fixture (levels in milli), target (milli), replicas, usage, tolerances
    ("scale up", Fixture(3, [20000, 10000, 30000]), 15000, 4, 20000, DEFAULT),
    ("scale up: unready hot-CPU pod scales less", Fixture(3, [50000, 10000, 30000], readiness=[T, T, F], starts=[THREE_MIN_AGO, THREE_MIN_AGO, NOW]), 15000, 6, 30000, DEFAULT),
    ("scale up: unready hot-CPU pods avoid scale-down", Fixture(3, [50000, 15000, 30000], readiness=[F, T, F], starts=[NOW, THREE_MIN_AGO, NOW]), 15000, 7, 31666, DEFAULT),
    ("scale down", Fixture(5, [12000] * 5), 20000, 3, 12000, DEFAULT),
    ("within default tolerance", Fixture(3, [20000, 21000, 21000]), 20000, 3, 20666, DEFAULT),
    ("outside configurable 1% tolerance", Fixture(3, [20000, 21000, 21000]), 20000, 4, 20666, Tolerances(0.1, 0.01)),
    ("no change: missing metrics", Fixture(5, [20000, 19000, 21000]), 20000, 5, 20000, DEFAULT),
    ("rolling update with maxSurge: extra pod missing metric", Fixture(2, [10000, 10000], phases=[RUNNING] * 3), 17000, 2, 10000, DEFAULT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fx", "target", "replicas", "usage", "tol"),
    POD_METRIC_CASES,
    ids=[c[0] for c in POD_METRIC_CASES],
)
def test_pods_metric(
    name: str, fx: Fixture, target: int, replicas: int, usage: int, tol: Tolerances
) -> None:
    pods = fx.pod_list("qps")
    samples = _samples(pods, "qps")
    grouped = group_pods(pods, samples, None, NOW, 120, 10)
    assert plain_metric_replicas(fx.current, target, pods, samples, tol, grouped) == (
        replicas,
        usage,
    )


def _ready_pods(readiness: list[bool]) -> list[PodState]:
    return [PodState(f"p{i}", ready=r) for i, r in enumerate(readiness)]


OBJECT_VALUE_CASES = [
    # TestReplicaCalcObjectMetric
    ("object scale up", 3, [T, T, T], 20000, 15000, DEFAULT, 4),
    ("object scale up: very large metric saturates replicas to MaxInt32", 3, [T, T, T], 2**63 - 1, 1, DEFAULT, INT32_MAX),
    ("object scale up: ignores unready pods", 3, [F, T, F], 50000, 10000, DEFAULT, 5),
    ("object scale down", 5, [T] * 5, 12000, 20000, DEFAULT, 3),
    ("object within default tolerance", 3, [T, T, T], 20666, 20000, DEFAULT, 3),
    ("object outside configurable 1% tolerance", 3, [T, T, T], 20666, 20000, Tolerances(0.1, 0.01), 4),
    # TestReplicaCalcExternalMetric
    ("external scale down: ignores unready pods (would otherwise scale up)", 3, [F, T, F], 8600, 4400, DEFAULT, 2),
    ("external scale down", 5, [T] * 5, 8600, 14334, DEFAULT, 3),
    ("external within default tolerance", 3, [T, T, T], 8600, 8888, DEFAULT, 3),
    ("external outside configurable 1% tolerance", 3, [T, T, T], 8900, 8800, Tolerances(0.1, 0.01), 4),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "current", "ready", "usage", "target", "tol", "replicas"),
    OBJECT_VALUE_CASES,
    ids=[c[0] for c in OBJECT_VALUE_CASES],
)
def test_object_and_external_value(
    name: str,
    current: int,
    ready: list[bool],
    usage: int,
    target: int,
    tol: Tolerances,
    replicas: int,
) -> None:
    assert object_value_replicas(current, usage, target, _ready_pods(ready), tol) == replicas


PER_POD_CASES = [
    # TestReplicaCalcObjectPerPodMetric
    ("object usage overflow with huge target leaves replicas unchanged", 1, 2**63 - 1, 2**63 - 1, DEFAULT, 1, 2**63 - 1),
    ("object scale up", 3, 20000, 5000, DEFAULT, 4, 6667),
    ("object scale down", 5, 6000, 2000, DEFAULT, 3, 1200),
    ("object within default tolerance", 4, 20166, 5000, DEFAULT, 4, 5042),
    ("object outside configurable 1% tolerance", 4, 20208, 5000, Tolerances(0.1, 0.01), 5, 5052),
    ("object statusReplicas zero does not overflow usage", 0, 20000, 5000, DEFAULT, 4, 0),
    ("object statusReplicas zero and metric zero does not underflow", 0, 0, 5000, DEFAULT, 0, 0),
    # TestReplicaCalcExternalPerPodMetric
    ("external replica count overflow saturates to MaxInt32", 1, 2**63 - 1, 1, DEFAULT, INT32_MAX, 2**63 - 1),
    ("external scale up", 3, 8600, 2150, DEFAULT, 4, 2867),
    ("external scale down", 5, 8600, 2867, DEFAULT, 3, 1720),
    ("external within default tolerance", 3, 8600, 2900, DEFAULT, 3, 2867),
    ("external outside configurable 1% tolerance", 3, 8600, 2800, Tolerances(0.1, 0.01), 4, 2867),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "status", "usage", "target", "tol", "replicas", "per_pod"),
    PER_POD_CASES,
    ids=[c[0] for c in PER_POD_CASES],
)
def test_per_pod_average(
    name: str, status: int, usage: int, target: int, tol: Tolerances, replicas: int, per_pod: int
) -> None:
    assert per_pod_replicas(status, usage, target, tol) == (replicas, per_pod)


def test_no_pods_and_only_unready_pods_are_errors() -> None:
    """Upstream's error texts: no pods, and no usable sample."""
    empty = group_pods([], {}, None, NOW, 120, 10)
    with pytest.raises(MetricError, match="no pods returned by selector"):
        plain_metric_replicas(1, 1000, [], {}, DEFAULT, empty)
    pods = [PodState("p0", phase="Pending", metrics={"q": 1.0})]
    grouped = group_pods(pods, {"p0": 1000}, None, NOW, 120, 10)
    with pytest.raises(MetricError, match="pods might be unready"):
        plain_metric_replicas(1, 1000, pods, {"p0": 1000}, DEFAULT, grouped)
