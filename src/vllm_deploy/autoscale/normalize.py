"""From a proposal to the replica count the HPA sets: stabilization windows and rate limits.

A port of ``pkg/controller/podautoscaler/horizontal.go``:
- without ``spec.behavior``: ``stabilizeRecommendation`` (the highest recommendation of the
  downscale window) then ``convertDesiredReplicasWithRules`` (at most ``max(2 x current, 4)``,
  ``calculateScaleUpLimit``);
- with it: ``stabilizeRecommendationWithBehaviors`` (between the lowest recommendation of
  the scale-up window and the highest of the scale-down window, starting from the current
  count) then ``convertDesiredReplicasWithBehaviorRate`` with
  ``calculateScaleUpLimitWithScalingRules``/``calculateScaleDownLimitWithBehaviors`` over the
  scale events of each policy's period (``getReplicasChangePerPeriod``);
- ``storeScaleEvent`` (only with a behavior): reuse the last event older than the longest
  policy period, else append.

The history is held in ``History``, one per HPA; times are seconds on the caller's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vllm_deploy.autoscale.spec import ScalingRules

__all__ = [
    "History",
    "Limit",
    "Recommendation",
    "ScaleEvent",
    "convert_with_behavior",
    "convert_with_rules",
    "scale_down_limit",
    "scale_up_limit",
    "stabilize",
    "stabilize_with_behavior",
]

SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_MESSAGES = {
    "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
    "ScaleDownLimit": "the desired replica count is decreasing faster than the maximum scale rate",
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
    "DesiredWithinRange": "the desired count is within the acceptable range",
}


@dataclass(slots=True)
class Recommendation:
    replicas: int
    at: float


@dataclass(slots=True)
class ScaleEvent:
    change: int  # absolute value
    at: float
    outdated: bool = False


@dataclass(slots=True)
class History:
    """The controller's per-HPA memory: ``recommendations``, ``scaleUpEvents``,
    ``scaleDownEvents``."""

    recommendations: list[Recommendation] | None = None
    up_events: list[ScaleEvent] = field(default_factory=list)
    down_events: list[ScaleEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Limit:
    replicas: int
    reason: str

    @property
    def message(self) -> str:
        return _MESSAGES[self.reason]


def _record(history: History, replicas: int, now: float, stale_index: int | None) -> None:
    recs = history.recommendations if history.recommendations is not None else []
    if stale_index is not None:
        recs[stale_index] = Recommendation(replicas, now)
    else:
        recs.append(Recommendation(replicas, now))
    history.recommendations = recs


def stabilize(history: History, desired: int, now: float, window_s: float) -> int:
    """``stabilizeRecommendation``: the max of ``desired`` and the recommendations in the window."""
    highest, stale = desired, None
    cutoff = now - window_s
    for i, rec in enumerate(history.recommendations or []):
        if rec.at < cutoff:
            stale = i  # upstream reuses the last stale slot
        elif rec.replicas > highest:
            highest = rec.replicas
    _record(history, desired, now, stale)
    return highest


def stabilize_with_behavior(
    history: History,
    current: int,
    desired: int,
    now: float,
    up_window_s: float,
    down_window_s: float,
) -> tuple[int, str, str]:
    """``stabilizeRecommendationWithBehaviors``: (replicas, reason, message)."""
    up_rec, down_rec, stale = desired, desired, None
    up_cut, down_cut = now - up_window_s, now - down_window_s
    for i, rec in enumerate(history.recommendations or []):
        if rec.at > up_cut:
            up_rec = min(rec.replicas, up_rec)
        if rec.at > down_cut:
            down_rec = max(rec.replicas, down_rec)
        if rec.at < up_cut and rec.at < down_cut:
            stale = i
    replicas = min(max(current, up_rec), down_rec)
    _record(history, desired, now, stale)
    if desired >= current:
        return (
            replicas,
            "ScaleUpStabilized",
            (
                "recent recommendations were lower than current one, "
                "applying the lowest recent recommendation"
            ),
        )
    return (
        replicas,
        "ScaleDownStabilized",
        (
            "recent recommendations were higher than current one, "
            "applying the highest recent recommendation"
        ),
    )


def convert_with_rules(current: int, desired: int, low: int, high: int) -> Limit:
    """``convertDesiredReplicasWithRules``: min/max and the legacy ``max(2 x current, 4)`` cap."""
    cap = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    upper, reason = (cap, "ScaleUpLimit") if high > cap else (high, "TooManyReplicas")
    if desired < low:
        return Limit(low, "TooFewReplicas")
    if desired > upper:
        return Limit(upper, reason)
    return Limit(desired, "DesiredWithinRange")


def _change_in_period(events: list[ScaleEvent], period_s: int, now: float) -> int:
    """``getReplicasChangePerPeriod``."""
    cutoff = now - period_s
    return sum(e.change for e in events if e.at > cutoff)


def scale_up_limit(current: int, history: History, rules: ScalingRules, now: float) -> int:
    """``calculateScaleUpLimitWithScalingRules``."""
    if rules.select == "Disabled":
        return current
    pick, result = (min, INT32_MAX) if rules.select == "Min" else (max, INT32_MIN)
    for policy in rules.policies:
        start = (
            current
            - _change_in_period(history.up_events, policy.period_s, now)
            + _change_in_period(history.down_events, policy.period_s, now)
        )
        if policy.type == "Pods":
            proposed = start + policy.value
        else:  # the proposal rounds up, or a small percentage would never add a pod
            proposed = math.ceil(start * (1 + policy.value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(current: int, history: History, rules: ScalingRules, now: float) -> int:
    """``calculateScaleDownLimitWithBehaviors``."""
    if rules.select == "Disabled":
        return current
    pick, result = (max, INT32_MIN) if rules.select == "Min" else (min, INT32_MAX)
    for policy in rules.policies:
        start = (
            current
            - _change_in_period(history.up_events, policy.period_s, now)
            + _change_in_period(history.down_events, policy.period_s, now)
        )
        if policy.type == "Pods":
            proposed = start - policy.value
        else:
            proposed = int(start * (1 - policy.value / 100))  # int32(): truncates
        result = pick(result, proposed)
    return result


def convert_with_behavior(
    current: int,
    desired: int,
    low: int,
    high: int,
    history: History,
    up: ScalingRules,
    down: ScalingRules,
    now: float,
) -> Limit:
    """``convertDesiredReplicasWithBehaviorRate``."""
    if desired > current:
        limit = max(scale_up_limit(current, history, up, now), current)
        upper, reason = (limit, "ScaleUpLimit") if high > limit else (high, "TooManyReplicas")
        if desired > upper:
            return Limit(upper, reason)
    elif desired < current:
        limit = min(scale_down_limit(current, history, down, now), current)
        lower, reason = (limit, "ScaleDownLimit") if low < limit else (low, "TooFewReplicas")
        if desired < lower:
            return Limit(lower, reason)
    return Limit(desired, "DesiredWithinRange")


def store_event(history: History, rules: ScalingRules, previous: int, new: int, now: float) -> None:
    """``storeScaleEvent`` for one direction (the caller only calls it when a behavior is set)."""
    events = history.up_events if new > previous else history.down_events
    cutoff = now - rules.longest_period_s
    stale = None
    for i, event in enumerate(events):  # markScaleEventsOutdated, then reuse the last outdated one
        if event.at < cutoff:
            event.outdated = True
        if event.outdated:
            stale = i
    fresh = ScaleEvent(abs(new - previous), now)
    if stale is None:
        events.append(fresh)
    else:
        events[stale] = fresh
