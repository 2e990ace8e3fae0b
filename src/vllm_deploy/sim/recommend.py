"""The cheapest autoscaling settings that meet the SLO on a trace: a coordinate search.

The search varies the spec's ``autoscaling`` fields one at a time over a small grid (the
waiting-queue target per pod, ``min_replicas``, the scale-up policy, the scale-down
stabilization window), keeps a change when it lowers GPU-hours while meeting the SLO (or
brings a failing configuration closer to it), and repeats until a round changes nothing.
Every candidate is rendered and simulated like the spec itself. It is a local search, not
an exhaustive one: its result is the best configuration it visited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from vllm_deploy.sim.policies import policy_for_spec
from vllm_deploy.sim.report import PolicyReport, summarize
from vllm_deploy.sim.setup import SimSetup
from vllm_deploy.sim.simulator import simulate
from vllm_deploy.sim.trace import Trace
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["GRID", "Recommendation", "recommend"]

# Field -> candidate values; scale_up is (pods, percent, period) as one choice.
GRID: dict[str, list[Any]] = {
    "target_waiting_per_pod": [0.5, 1.0, 2.0, 4.0, 8.0],
    "min_replicas": [1, 2, 3, 4, 5, 6, 8],
    "scale_up": [(2, 100, 60), (4, 100, 15), (1, 10, 60)],
    "scale_down_stabilisation_s": [60, 180, 300, 600],
}
MAX_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Recommendation:
    spec: DeploymentSpec
    report: PolicyReport
    evaluated: int

    def snippet(self) -> str:
        """The ``autoscaling:`` block to paste into the spec."""
        a = self.spec.autoscaling
        fields = {
            "min_replicas": a.min_replicas,
            "max_replicas": a.max_replicas,
            "target_waiting_per_pod": a.target_waiting_per_pod,
            "scale_up_pods": a.scale_up_pods,
            "scale_up_percent": a.scale_up_percent,
            "scale_up_period_s": a.scale_up_period_s,
            "scale_down_stabilisation_s": a.scale_down_stabilisation_s,
        }
        return yaml.safe_dump({"autoscaling": fields}, sort_keys=False)


def _with(spec: DeploymentSpec, field: str, value: Any) -> DeploymentSpec | None:
    a = spec.autoscaling
    if field == "scale_up":
        update = dict(
            zip(("scale_up_pods", "scale_up_percent", "scale_up_period_s"), value, strict=True)
        )
    else:
        update = {field: value}
    if update.get("min_replicas", a.min_replicas) > a.max_replicas:
        return None
    return spec.model_copy(update={"autoscaling": a.model_copy(update=update)})


def _score(report: PolicyReport) -> tuple[int, float]:
    """Meeting the SLO first, then cost; among failures, the closest to the SLO."""
    return (0, report.gpu_hours) if report.meets_slo else (1, -report.slo_attainment)


def recommend(
    spec: DeploymentSpec,
    setup: SimSetup,
    trace: Trace,
    *,
    seed: int = 0,
    attainment: float = 0.99,
    progress: Callable[[int], None] | None = None,
) -> Recommendation:
    """Usage: ``recommend(spec, setup, trace).snippet()``."""
    cache: dict[str, PolicyReport] = {}

    def evaluate(candidate: DeploymentSpec) -> PolicyReport:
        key = candidate.autoscaling.model_dump_json()
        if key not in cache:
            run = simulate(setup, trace, policy_for_spec(candidate, "recommended"), seed)
            cache[key] = summarize(run, setup.slo, attainment)
            if progress is not None:
                progress(len(cache))
        return cache[key]

    best = spec.model_copy(
        update={"autoscaling": spec.autoscaling.model_copy(update={"enabled": True})}
    )
    best_report = evaluate(best)
    for _ in range(MAX_ROUNDS):
        improved = False
        for field, values in GRID.items():
            for value in values:
                candidate = _with(best, field, value)
                if candidate is None:
                    continue
                report = evaluate(candidate)
                if _score(report) < _score(best_report):
                    best, best_report, improved = candidate, report, True
        if not improved:
            break
    return Recommendation(best, best_report, len(cache))
