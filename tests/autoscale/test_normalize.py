"""Stabilization and rate limits, table-driven from upstream's own cases.

Source: kubernetes/kubernetes ``pkg/controller/podautoscaler/horizontal_test.go`` (read at
omerap12/kubernetes@060da16): ``TestNormalizeDesiredReplicas``, ``TestScalingWithRules``,
``TestStoreScaleEvents``, ``TestNormalizeDesiredReplicasWithBehavior``. Upstream's
``generateScalingRules(pods, podsPeriod, percent, percentPeriod, window)`` and
``generateEventsUniformDistribution(events, period)`` are reproduced below.
"""

from __future__ import annotations

import pytest

from vllm_deploy.autoscale import normalize as norm
from vllm_deploy.autoscale.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    ScalingPolicy,
    ScalingRules,
)

NOW = 100_000.0
MIN = 60.0


def rules(
    pods: int, pods_period: int, percent: int, percent_period: int, window: int
) -> ScalingRules:
    """``generateScalingRules``: Max select, a Pods and/or a Percent policy."""
    policies = []
    if pods:
        policies.append(ScalingPolicy("Pods", pods, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies))


def uniform(changes: list[int], period: int) -> list[norm.ScaleEvent]:
    """``generateEventsUniformDistribution``: each event in the middle of its segment."""
    seg = period / len(changes)
    return [
        norm.ScaleEvent(c, NOW - (period - seg * (i + 1) + seg / 2)) for i, c in enumerate(changes)
    ]


def recs(*pairs: tuple[int, float]) -> list[norm.Recommendation]:
    return [norm.Recommendation(r, NOW - ago) for r, ago in pairs]


@pytest.mark.parametrize(
    ("name", "history", "desired", "expected", "length"),
    [
        ("empty log", [], 5, 5, 1),
        ("stabilize", [(4, 2 * MIN), (5, MIN)], 3, 5, 3),
        ("no stabilize", [(1, 2 * MIN), (2, MIN)], 3, 3, 3),
        ("no stabilize - old recommendations", [(10, 10 * MIN), (9, 9 * MIN)], 3, 3, 2),
        (
            "stabilize - old recommendations",
            [(10, 10 * MIN), (4, MIN), (5, 2 * MIN), (9, 9 * MIN)],
            3,
            5,
            4,
        ),
    ],
)
def test_normalize_desired_replicas(
    name: str, history: list[tuple[int, float]], desired: int, expected: int, length: int
) -> None:
    """TestNormalizeDesiredReplicas (downscale window 5 min)."""
    h = norm.History(recommendations=recs(*history))
    assert norm.stabilize(h, desired, NOW, 300) == expected
    assert h.recommendations is not None and len(h.recommendations) == length


UP_EVENTS = "up"
SCALING_WITH_RULES = [
    # name, up events, down events, min, max, scale-up rules, scale-down rules, current, desired,
    # expected, reason
    ("prenormalized desired replicas within range", None, None, 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", None, None, 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
    ("prenormalized desired replicas within range when minReplicas is 0", None, None, 0, 10, None, None, 1, 0, 0, "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", None, None, 1, 10, None, None, 20, 1000, 10, "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", None, None, 100, 150, None, None, 100, 1000, 150, "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", None, None, 1, 2000, rules(0, 0, 1, 60, 0), None, 3, 1000, 4, "ScaleUpLimit"),
    ("scaleUp with default behavior", None, None, 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", None, None, 1, 1000, rules(100, 60, 100, 60, 0), None, 10, 500, 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", None, None, 1, 1000, rules(2, 60, 100, 60, 0), None, 10, 500, 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", None, None, 1, 1000, rules(100, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy", None, None, 1, 1000, rules(10000, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", None, None, 1, 1000, rules(30, 60, 0, 0, 0), None, 10, 50, 40, "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", None, None, 1, 1000, rules(0, 0, 200, 60, 0), None, 10, 50, 30, "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", None, None, 1, 1000, None, rules(20, 60, 1, 60, 300), 100, 2, 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", None, None, 1, 1000, None, rules(2, 60, 1, 60, 300), 100, 2, 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas limitation with large pod policy", None, None, 1, 1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", None, None, 5, 1000, None, rules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", None, None, 1, 1000, None, rules(5, 60, 0, 0, 300), 10, 2, 5, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", None, None, 1, 1000, None, rules(0, 0, 50, 60, 300), 10, 5, 5, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events", [1, 5, 9], None, 1, 200, rules(300, 60, 0, 0, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy and events", [1, 5, 9], None, 1, 200, rules(0, 0, 10000, 60, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events", [1, 5, 9], None, 1, 1000, rules(5, 120, 0, 0, 0), None, 100, 500, 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", [1, 5, 9], None, 1, 1000, rules(150, 120, 0, 0, 0), None, 100, 500, 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", [1, 5, 9], None, 1, 1000, rules(0, 0, 200, 120, 0), None, 100, 500, 255, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up and down events", [4], [2], 1, 1000, rules(0, 0, 300, 300, 0), None, 6, 24, 16, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", None, [1, 5, 9], 1, 1000, None, None, 10, 5, 5, "DesiredWithinRange"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", None, [1, 5, 9], 1, 1000, None, rules(115, 120, 0, 0, 300), 100, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy and previous events", None, [1, 5, 9], 5, 1000, None, rules(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy and previous events", None, [1, 5, 9], 5, 1000, None, rules(0, 0, 100, 120, 300), 100, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", None, [1, 5, 9], 1, 1000, None, rules(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", None, [2, 4, 6], 1, 1000, None, rules(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"),
    ("scaleDown with percent policy and previous scale up and down events", [2], [4], 1, 1000, None, rules(0, 0, 50, 180, 0), 10, 1, 6, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", None, [10, 10, 10], 1, 1000, None, rules(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"),
    ("scaleDown with with previous events still allowing more scale down", None, [10, 10, 10], 1, 1000, None, rules(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for up", [8, 12, 9, 11], None, 1, 1000, rules(1000, 60, 0, 0, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for up", [8, 12, 9, 11], None, 1, 1000, rules(1000, 120, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for up", [8, 12, 9, 11], None, 1, 1000, rules(1000, 30, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for down", None, [8, 12, 9, 11], 1, 1000, None, rules(1000, 60, 0, 0, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for down", None, [8, 12, 9, 11], 1, 1000, None, rules(1000, 120, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for down", None, [8, 12, 9, 11], 1, 1000, None, rules(1000, 30, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
]  # fmt: skip


@pytest.mark.parametrize(
    (
        "name",
        "up",
        "down",
        "low",
        "high",
        "up_rules",
        "down_rules",
        "current",
        "desired",
        "expected",
        "reason",
    ),
    SCALING_WITH_RULES,
    ids=[c[0] for c in SCALING_WITH_RULES],
)
def test_scaling_with_rules(
    name: str,
    up: list[int] | None,
    down: list[int] | None,
    low: int,
    high: int,
    up_rules: ScalingRules | None,
    down_rules: ScalingRules | None,
    current: int,
    desired: int,
    expected: int,
    reason: str,
) -> None:
    """TestScalingWithRules: ``convertDesiredReplicasWithBehaviorRate`` with defaulted rules."""
    history = norm.History(
        up_events=uniform(up or [0], 120) if up else [],
        down_events=uniform(down, 120) if down else [],
    )
    limit = norm.convert_with_behavior(
        current,
        desired,
        low,
        high,
        history,
        up_rules or DEFAULT_SCALE_UP,
        down_rules or DEFAULT_SCALE_DOWN,
        NOW,
    )
    assert (limit.replicas, limit.reason) == (expected, reason)


def test_convert_with_rules_caps_a_scale_up_at_twice_the_current_count_or_four() -> None:
    """TestConvertDesiredReplicasWithRules: (current, desired, min, max) -> (replicas, reason).

    Upstream's test file sets ``scaleUpLimitFactor = 8`` in ``init()`` and expects
    ``calculateScaleUpLimit(3)``; with the production factor 2 that is max(6, 4) = 6."""
    cases = [
        ((5, 7, 3, 8), (7, "DesiredWithinRange")),
        ((3, 1, 2, 8), (2, "TooFewReplicas")),
        ((1, 0, 0, 10), (0, "DesiredWithinRange")),
        ((20, 1000, 1, 10), (10, "TooManyReplicas")),
        ((3, 1000, 1, 2000), (6, "ScaleUpLimit")),
        ((1, 1000, 1, 2000), (4, "ScaleUpLimit")),
    ]
    for args, want in cases:
        limit = norm.convert_with_rules(*args)
        assert (limit.replicas, limit.reason) == want, args


def test_scale_limits_with_min_select() -> None:
    """TestCalculateScaleUpLimitWithScalingRules / TestCalculateScaleDownLimitWithBehaviors."""
    policy = ScalingRules(
        0, "Min", (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60))
    )
    assert norm.scale_up_limit(1, norm.History(), policy, NOW) == 2
    assert norm.scale_down_limit(5, norm.History(), policy, NOW) == 3
    disabled = ScalingRules(0, "Disabled", policy.policies)
    assert norm.scale_up_limit(7, norm.History(), disabled, NOW) == 7


STORE_CASES = [
    # name, previous (change, seconds ago), rules, expected change in last 60 s,
    # stored after (change, outdated)
    ("empty entries with two-policy-behavior", [], rules(10, 60, 100, 60, 0), 0, [(5, False)]),
    ("one outdated entry to be replaced with behavior", [(7, 61)], rules(10, 60, 100, 60, 0), 0, [(5, False)]),
    ("one actual entry to be not touched with behavior", [(7, 58)], rules(10, 60, 100, 60, 0), 7, [(7, False), (5, False)]),
    ("two entries, one of them to be replaced", [(7, 61), (6, 59)], rules(10, 60, 0, 0, 0), 6, [(5, False), (6, False)]),
    ("replace one entry, use policies with different periods", [(8, 29), (6, 59), (7, 61), (9, 61)], rules(10, 60, 100, 30, 0), 14,
     [(8, False), (6, False), (7, True), (5, False)]),
    ("two entries, both actual", [(7, 58), (6, 59)], rules(10, 120, 100, 30, 0), 13, [(7, False), (6, False), (5, False)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "previous", "policy", "change", "after"), STORE_CASES, ids=[c[0] for c in STORE_CASES]
)
@pytest.mark.parametrize("direction", ["up", "down"])
def test_store_scale_events(
    name: str,
    previous: list[tuple[int, float]],
    policy: ScalingRules,
    change: int,
    after: list[tuple[int, bool]],
    direction: str,
) -> None:
    """TestStoreScaleEvents (the case without a behavior is the controller's: see test_hpa)."""
    events = [norm.ScaleEvent(c, NOW - ago) for c, ago in previous]
    history = (
        norm.History(up_events=events) if direction == "up" else norm.History(down_events=events)
    )
    stored = history.up_events if direction == "up" else history.down_events
    assert norm._change_in_period(stored, 60, NOW) == change
    norm.store_event(history, policy, 10, 15 if direction == "up" else 5, NOW)
    assert [(e.change, e.outdated) for e in stored] == after


BEHAVIOR_STABILIZATION = [
    # name, recommendations (replicas, seconds ago), current, desired, expected, stored,
    # up window, down window
    ("empty recommendations for scaling down", [], 100, 5, 5, [5], 0, 0),
    ("simple scale down stabilization", [(4, 2 * MIN), (5, MIN)], 100, 3, 5, [4, 5, 3], 0, 180),
    ("simple scale up stabilization", [(4, 2 * MIN), (5, MIN)], 1, 7, 4, [4, 5, 7], 300, 0),
    ("no scale down stabilization", [(1, 2 * MIN), (2, MIN)], 100, 3, 3, [1, 2, 3], 300, 0),
    ("no scale up stabilization", [(4, 2 * MIN), (5, MIN)], 1, 3, 3, [4, 5, 3], 0, 300),
    ("no scale down stabilization, reuse recommendation element", [(10, 10 * MIN), (9, 9 * MIN)], 100, 3, 3, [10, 3], 0, 0),
    ("no scale up stabilization, reuse recommendation element", [(10, 10 * MIN), (9, 9 * MIN)], 1, 100, 100, [10, 100], 0, 0),
    ("scale down stabilization, reuse one of obsolete recommendation element", [(10, 10 * MIN), (4, MIN), (5, 2 * MIN), (9, 9 * MIN)], 100, 3, 5, [10, 4, 5, 3], 0, 180),
    ("scale up stabilization, reuse one of obsolete recommendation element", [(10, 100 * MIN), (6, MIN), (5, 2 * MIN), (9, 3 * MIN)], 1, 100, 5, [100, 6, 5, 9], 300, 0),
    ("scale up and down stabilization, do not scale up when prenormalized rec goes down", [(2, 100 * MIN), (3, 3 * MIN)], 2, 1, 2, None, 300, 300),
    ("scale up and down stabilization, do not scale down when prenormalized rec goes up", [(2, 100 * MIN), (1, 3 * MIN)], 2, 3, 2, None, 300, 300),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "history", "current", "desired", "expected", "stored", "up_window", "down_window"),
    BEHAVIOR_STABILIZATION,
    ids=[c[0] for c in BEHAVIOR_STABILIZATION],
)
def test_normalize_desired_replicas_with_behavior(
    name: str,
    history: list[tuple[int, float]],
    current: int,
    desired: int,
    expected: int,
    stored: list[int] | None,
    up_window: int,
    down_window: int,
) -> None:
    """TestNormalizeDesiredReplicasWithBehavior: ``stabilizeRecommendationWithBehaviors``."""
    h = norm.History(recommendations=recs(*history))
    got, _, _ = norm.stabilize_with_behavior(h, current, desired, NOW, up_window, down_window)
    assert got == expected
    if stored is not None:
        assert [r.replicas for r in h.recommendations or []] == stored
