"""``vllm-deploy simulate``: the spec's policy on a trace, optionally against the baselines.

``--compare`` adds the seed's policy, the oracle and a fixed fleet sized for the peak;
``--recommend`` adds the search's best settings. Every policy runs on the same trace, the
same cluster and the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vllm_deploy.sim.oracle import oracle_policy, peak_policy, pod_capacity
from vllm_deploy.sim.policies import HpaPolicy, Policy, policy_for_spec, seed_hpa
from vllm_deploy.sim.profile import EngineProfile
from vllm_deploy.sim.recommend import Recommendation, recommend
from vllm_deploy.sim.report import PolicyReport, summarize
from vllm_deploy.sim.setup import SimSetup
from vllm_deploy.sim.simulator import RunResult, simulate
from vllm_deploy.sim.trace import Trace
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["Outcome", "run_simulation"]

Progress = Callable[[str, float], None]


@dataclass
class Outcome:
    reports: list[PolicyReport]
    runs: list[RunResult]
    capacity_rps: float | None
    recommendation: Recommendation | None

    def as_json(
        self, setup: SimSetup, trace: Trace, seed: int, attainment: float
    ) -> dict[str, Any]:
        slo = setup.slo
        profile: EngineProfile = setup.profile
        return {
            "slo": {**slo.model_dump(), "attainment": attainment},
            "trace": {"name": trace.name, "requests": len(trace), "duration_s": trace.duration_s},
            "profile": {
                "name": profile.name,
                "model": profile.model,
                "gpu": profile.gpu,
                "gpus_per_pod": profile.gpus_per_pod,
            },
            "cluster": {"gpus": setup.cluster.gpus, "gpus_per_node": setup.cluster.gpus_per_node},
            "seed": seed,
            "pod_capacity_rps": self.capacity_rps,
            "policies": [r.as_json() for r in self.reports],
            "recommendation": None
            if self.recommendation is None
            else {
                "evaluated": self.recommendation.evaluated,
                "snippet": self.recommendation.snippet(),
            },
        }


def run_simulation(
    spec: DeploymentSpec,
    setup: SimSetup,
    trace: Trace,
    *,
    seed: int = 0,
    compare: bool = False,
    with_recommendation: bool = False,
    attainment: float = 0.99,
    progress: Progress | None = None,
) -> Outcome:
    """Usage: ``run_simulation(spec, setup, trace, compare=True).reports``."""
    policies: list[Policy] = [policy_for_spec(spec, "spec")]
    capacity = None
    if compare:
        if progress:
            progress("pod capacity", 0.0)
        capacity = pod_capacity(setup, trace, attainment, seed)
        policies += [
            HpaPolicy("seed", seed_hpa(spec)),
            oracle_policy(setup, trace, capacity),
            peak_policy(setup, trace, capacity),
        ]
    rec = None
    if with_recommendation:
        rec = recommend(
            spec,
            setup,
            trace,
            seed=seed,
            attainment=attainment,
            progress=(lambda n: progress(f"recommend: {n} candidates", 0.0)) if progress else None,
        )
    runs, reports = [], []
    for policy in policies:
        step = (lambda f, name=policy.name: progress(name, f)) if progress else None
        run = simulate(setup, trace, policy, seed, step)
        runs.append(run)
        reports.append(summarize(run, setup.slo, attainment))
    if rec is not None:
        run = simulate(setup, trace, policy_for_spec(rec.spec, "recommended"), seed)
        runs.append(run)
        reports.append(summarize(run, setup.slo, attainment))
    return Outcome(reports, runs, capacity, rec)
