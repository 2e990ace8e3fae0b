"""The controller's decision end to end: upstream's controller-level cases, and our rendered HPA.

Upstream sources (kubernetes/kubernetes ``pkg/controller/podautoscaler/horizontal_test.go``,
read at omerap12/kubernetes@060da16): ``TestScaleUpOneMetricEmpty``,
``TestNoScaleDownOneMetricEmpty``, ``TestScaleRCImmediately``, the "stabilize downscale" case
of the table test above ``TestComputedToleranceAlgImplementation``, that test itself, and
``TestStoreScaleEvents`` ("empty entries with default behavior"). Their fake pods report the
given CPU level in millicores with a 1-CPU request, are Ready, and started at the zero time.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from vllm_deploy.autoscale import (
    ClusterMetrics,
    ControllerConfig,
    HorizontalPodAutoscaler,
    HpaSpecError,
    PodState,
    parse_hpa,
)
from vllm_deploy.autoscale.normalize import Recommendation

ROOT = Path(__file__).parents[2]
NOW = 50_000.0
TESTING = ControllerConfig(
    tolerance=0.1, cpu_initialization_period_s=120, initial_readiness_delay_s=10
)


def manifest(
    low: int, high: int, metrics: list[dict[str, Any]], behavior: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "minReplicas": low,
        "maxReplicas": high,
        "metrics": metrics,
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "t"},
    }
    if behavior is not None:
        spec["behavior"] = behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "test-hpa"},
        "spec": spec,
    }


def cpu(target: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target},
        },
    }


def qps_external(value: str) -> dict[str, Any]:
    return {
        "type": "External",
        "external": {
            "metric": {"name": "qps", "selector": {}},
            "target": {"type": "Value", "value": value},
        },
    }


def cpu_pods(levels: list[int], request: float = 1.0) -> list[PodState]:
    return [
        PodState(
            f"test-pod-{i}",
            ready_since=0.0,
            started=0.0,
            sampled_at=NOW,
            metrics={"cpu": m / 1000},
            requests={"cpu": request},
        )
        for i, m in enumerate(levels)
    ]


def reasons(hpa: HorizontalPodAutoscaler) -> list[tuple[str, str, str]]:
    return [(c.type, c.status, c.reason) for c in hpa.conditions]


def test_scale_up_when_one_metric_is_missing() -> None:
    """TestScaleUpOneMetricEmpty: CPU says 4, the external metric fails; 4 > 3 so scale up."""
    hpa = HorizontalPodAutoscaler.from_manifest(
        manifest(2, 6, [cpu(30), qps_external("100m")]), TESTING
    )
    decision = hpa.reconcile(
        NOW, 3, cpu_pods([300, 400, 500]), ClusterMetrics(failed=frozenset({"qps"}))
    )
    assert decision.desired_replicas == 4 and decision.rescale
    assert decision.error is not None and "1 invalid out of 2" in decision.error
    assert decision.reason == "cpu resource utilization (percentage of request) above target"


def test_no_scale_down_on_partial_metrics() -> None:
    """TestNoScaleDownOneMetricEmpty: CPU says 3, the external metric fails: stay at 5."""
    hpa = HorizontalPodAutoscaler.from_manifest(
        manifest(2, 6, [cpu(50), qps_external("1")]), TESTING
    )
    hpa.history.recommendations = []
    decision = hpa.reconcile(
        NOW, 5, cpu_pods([100, 300, 500, 250, 250]), ClusterMetrics(failed=frozenset({"qps"}))
    )
    assert (decision.desired_replicas, decision.rescale) == (5, False)
    assert reasons(hpa) == [
        ("AbleToScale", "True", "SucceededGetScale"),
        ("ScalingActive", "False", "FailedGetExternalMetric"),
    ]
    assert hpa.conditions[1].message.startswith("the HPA was unable to compute the replica count: ")


@pytest.mark.parametrize(
    ("current", "levels", "expected"), [(1, [0, 0, 0, 0], 2), (6, [8000, 9500, 1000], 5)]
)
def test_scale_to_bounds_immediately(current: int, levels: list[int], expected: int) -> None:
    """TestScaleRCImmediately: below min or above max, go to the bound without reading metrics."""
    hpa = HorizontalPodAutoscaler.from_manifest(
        manifest(2, 5 if current > 5 else 6, [cpu(50)]), TESTING
    )
    decision = hpa.reconcile(NOW, current, cpu_pods(levels))
    assert (decision.desired_replicas, decision.rescale, decision.metrics) == (expected, True, ())
    assert reasons(hpa) == [("AbleToScale", "True", "SucceededRescale")]
    assert decision.reason.startswith("Current number of replicas")


def test_stabilize_downscale() -> None:
    """Case "stabilize downscale": recommendations {10 @ -10 min, 4 @ -1 min} hold 4 replicas."""
    hpa = HorizontalPodAutoscaler.from_manifest(manifest(1, 5, [cpu(100)]), TESTING)
    hpa.history.recommendations = [Recommendation(10, NOW - 600), Recommendation(4, NOW - 60)]
    decision = hpa.reconcile(NOW, 4, cpu_pods([50, 50, 50], request=0.1))
    assert (decision.desired_replicas, decision.rescale) == (4, False)
    assert reasons(hpa) == [("AbleToScale", "True", "ScaleDownStabilized"),
                            ("ScalingActive", "True", "ValidMetricFound"),
                            ("ScalingLimited", "False", "DesiredWithinRange")]  # fmt: skip


def test_computed_tolerance() -> None:
    """TestComputedToleranceAlgImplementation: a target just outside the tolerance scales down,
    one just inside does not; the expected counts are computed as upstream computes them."""
    start, used = 10, 10 * 150
    requested = 2 * used
    per_pod = requested // start
    jitter = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0]
    pods = [
        PodState(
            f"p{i}",
            ready_since=0.0,
            started=0.0,
            sampled_at=NOW,
            metrics={"cpu": used / 10 / 1000},
            requests={"cpu": (per_pod + j) / 1000},
        )
        for i, j in enumerate(jitter)
    ]
    ratio = float(requested // used)
    target = abs(1 / (ratio * (1 - 0.1))) + 0.01
    final_pods = math.ceil(used / (requested * target) * start)
    hpa = HorizontalPodAutoscaler.from_manifest(
        manifest(0, 1000, [cpu(int(target * 100))]), TESTING
    )
    hpa.history.recommendations = []
    assert hpa.reconcile(NOW, start, pods).desired_replicas == final_pods == 9
    target = abs(1 / (ratio * (1 - 0.1))) + 0.004
    hpa = HorizontalPodAutoscaler.from_manifest(
        manifest(0, 1000, [cpu(int(target * 100))]), TESTING
    )
    hpa.history.recommendations = []
    decision = hpa.reconcile(NOW, start, pods)
    assert (decision.desired_replicas, decision.rescale) == (start, False)
    assert reasons(hpa)[0] == ("AbleToScale", "True", "ReadyForNewScale")


def test_no_scale_events_are_stored_without_a_behavior() -> None:
    """TestStoreScaleEvents "empty entries with default behavior"."""
    hpa = HorizontalPodAutoscaler.from_manifest(manifest(1, 10, [cpu(50)]), TESTING)
    assert hpa.reconcile(NOW, 2, cpu_pods([900, 900])).rescale
    assert hpa.history.up_events == [] and hpa.history.down_events == []


def _rendered_prod_hpa() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "deploy/examples/prod/hpa.yaml").read_text())
    return doc


def test_the_rendered_hpa_parses_with_its_behavior() -> None:
    spec = parse_hpa(_rendered_prod_hpa())
    assert (spec.min_replicas, spec.max_replicas) == (2, 10)
    (metric,) = spec.metrics
    assert (metric.type, metric.key, metric.target_type, metric.target) == (
        "Pods",
        "vllm_num_requests_waiting",
        "AverageValue",
        4000,
    )
    assert spec.behavior is not None
    up, down = spec.behavior.scale_up, spec.behavior.scale_down
    assert (
        up.stabilization_s,
        up.select,
        [(p.type, p.value, p.period_s) for p in up.policies],
    ) == (0, "Max", [("Pods", 2, 60), ("Percent", 100, 60)])
    assert (
        down.stabilization_s,
        down.select,
        [(p.type, p.value, p.period_s) for p in down.policies],
    ) == (300, "Min", [("Pods", 1, 120)])


def test_defaults_apply_only_when_a_behavior_is_set() -> None:
    """defaults.go: an empty behavior gets Pods 4 / Percent 100 per 15 s up, Percent 100 per
    15 s down."""
    assert parse_hpa(manifest(1, 5, [cpu(50)])).behavior is None
    behavior = parse_hpa(
        manifest(1, 5, [cpu(50)], {"scaleDown": {"stabilizationWindowSeconds": 60}})
    ).behavior
    assert behavior is not None
    assert [(p.type, p.value, p.period_s) for p in behavior.scale_up.policies] == [
        ("Pods", 4, 15),
        ("Percent", 100, 15),
    ]
    assert (behavior.scale_down.stabilization_s, behavior.scale_down.policies[0].type) == (
        60,
        "Percent",
    )
    bare = parse_hpa({**manifest(1, 5, []), "spec": {"maxReplicas": 5}})
    assert (bare.min_replicas, bare.metrics[0].key, bare.metrics[0].target) == (1, "cpu", 80)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"maxReplicas": 0}, "spec.maxReplicas has value 0"),
        ({"minReplicas": 9}, "spec.minReplicas has value 9"),
        ({"metrics": [{"type": "Pods", "pods": {
            "metric": {"name": "q"}, "target": {"type": "AverageValue", "averageValue": "four"}}}]},
         "spec.metrics[0].pods.target.averageValue has value 'four'"),
        ({"metrics": [{"type": "ContainerResource"}]},
         "spec.metrics[0].type has value 'ContainerResource'"),
        ({"behavior": {"scaleUp": {"selectPolicy": "Fastest"}}},
         "spec.behavior.scaleUp.selectPolicy has value 'Fastest'"),
    ],
)  # fmt: skip
def test_errors_name_the_field_and_value(patch: dict[str, Any], message: str) -> None:
    doc = manifest(1, 5, [cpu(50)])
    doc["spec"].update(patch)
    with pytest.raises(HpaSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_hpa(doc)


def waiting_pods(values: list[float | None], started: float = 0.0) -> list[PodState]:
    return [
        PodState(
            f"pod-{i}",
            started=started,
            metrics={} if v is None else {"vllm_num_requests_waiting": v},
        )
        for i, v in enumerate(values)
    ]


def test_the_rendered_policy_over_several_syncs() -> None:
    """Our rendered HPA, sync by sync: the scale-up is limited to +2 or +100% per 60 s, missing
    pods (still loading) count as 0 on the way up, and the scale-down waits 300 s, then
    removes one pod per 120 s."""
    hpa = HorizontalPodAutoscaler.from_manifest(_rendered_prod_hpa())
    first = hpa.reconcile(0.0, 2, waiting_pods([20, 20]))
    assert (first.desired_replicas, first.reason) == (
        4,
        "pods metric vllm_num_requests_waiting above target",
    )
    assert ("ScalingLimited", "True", "ScaleUpLimit") in reasons(hpa)
    # 15 s later the two new pods load (no samples): the +100% of the last 60 s is used up.
    held = hpa.reconcile(15.0, 4, waiting_pods([20, 20, None, None]))
    assert (held.desired_replicas, held.rescale) == (4, False)
    # After the policy period, another doubling is allowed.
    assert hpa.reconcile(75.0, 4, waiting_pods([20, 20, None, None])).desired_replicas == 8
    # The queue is gone: no scale-down inside the 300 s window...
    t = 90.0
    while t < 75.0 + 300:
        assert hpa.reconcile(t, 8, waiting_pods([0] * 8)).desired_replicas == 8
        t += 15
    # ... then one pod per 120 s.
    counts = []
    current = 8
    while t < 75.0 + 300 + 600:
        current = hpa.reconcile(t, current, waiting_pods([0] * current)).desired_replicas
        counts.append(current)
        t += 15
    assert counts[0] == 7 and counts[7] == 7 and counts[8] == 6 and min(counts) >= 2
    assert ("ScalingLimited", "True", "ScaleDownLimit") in reasons(hpa)
