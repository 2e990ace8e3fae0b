"""Baselines that know the trace: a pod's capacity at the SLO, the oracle, the peak-sized fleet.

- ``pod_capacity``: the highest Poisson arrival rate one warm pod serves while meeting the
  SLO (attainment, p95 ITL, error ratio), with the trace's own prompt and output lengths;
  found by bisection over short simulations of that pod.
- ``oracle_policy``: replicas as a schedule with perfect foresight. For each minute of the
  trace it needs ``ceil(arrivals per second / capacity)`` ready pods (within the spec's
  min and max replicas); it asks for them one cold start ahead (scheduling, download,
  load, warm-up, probes, endpoint propagation and one sync period; plus the image pull
  while the fleet grows onto nodes that never ran the image) and lets them go as soon as
  they are no longer needed. Its GPU-hours come from simulating that schedule like any
  other policy.
- ``peak_policy``: a fixed fleet sized for the busiest minute.
"""

from __future__ import annotations

import math
import random

from vllm_deploy.sim.policies import FixedPolicy, SchedulePolicy
from vllm_deploy.sim.report import summarize
from vllm_deploy.sim.setup import SimSetup
from vllm_deploy.sim.simulator import simulate
from vllm_deploy.sim.trace import Trace

__all__ = ["minute_rates", "oracle_policy", "peak_policy", "pod_capacity"]

BUCKET_S = 60.0


def _probe_trace(trace: Trace, rate: float, duration: float, seed: int) -> Trace:
    rng = random.Random(seed)
    arrivals, t = [], 0.0
    while rate > 0:
        t += rng.expovariate(rate)
        if t >= duration:
            break
        arrivals.append(t)
    picks = [rng.randrange(len(trace)) for _ in arrivals] if len(trace) else []
    prompts = [trace.prompt_tokens[i] for i in picks] if picks else [256] * len(arrivals)
    outputs = [trace.output_tokens[i] for i in picks] if picks else [256] * len(arrivals)
    return Trace(f"poisson:rate={rate:g}", arrivals, prompts, outputs, duration)


def pod_capacity(
    setup: SimSetup, trace: Trace, attainment: float = 0.99, seed: int = 0, duration: float = 600.0
) -> float:
    """Requests per second one pod sustains within the SLO (bisection, 12 steps)."""
    step = setup.profile.step
    mean_out = sum(trace.output_tokens) / len(trace) if len(trace) else 256.0
    full = setup.template.max_num_seqs
    ceiling = 2.0 * full / (mean_out * step.itl_s(full))  # above any batch's throughput
    low, high = 0.0, ceiling
    for i in range(12):
        mid = (low + high) / 2
        run = simulate(
            setup, _probe_trace(trace, mid, duration, seed + i), FixedPolicy("capacity", 1), seed
        )
        if summarize(run, setup.slo, attainment).meets_slo:
            low = mid
        else:
            high = mid
    return low


def minute_rates(trace: Trace) -> list[float]:
    """Arrivals per second in each minute of the trace."""
    counts = [0] * max(1, math.ceil(trace.duration_s / BUCKET_S))
    for t in trace.arrivals:
        counts[min(len(counts) - 1, int(t // BUCKET_S))] += 1
    return [c / BUCKET_S for c in counts]


def _cold_start_s(setup: SimSetup, with_pull: bool) -> float:
    s, tpl, c = setup.profile.startup, setup.template, setup.cluster
    boot = s.load_s + s.warmup_s
    probes = math.ceil(boot / tpl.startup_period_s) * tpl.startup_period_s + tpl.readiness_period_s
    download = s.download_s if tpl.downloads in ("every-pod", "first-pod-on-node") else 0.0
    lead = c.schedule_delay_s + download + probes + c.lb_delay_s + c.sync_period_s
    return lead + (s.image_pull_s if with_pull else 0.0)


def oracle_policy(
    setup: SimSetup, trace: Trace, capacity: float, name: str = "oracle"
) -> SchedulePolicy:
    """The schedule described in the module docstring, on the HPA's sync grid."""
    need = [
        min(setup.max_replicas, max(setup.min_replicas, math.ceil(r / capacity)))
        for r in minute_rates(trace)
    ]
    per_node = max(1, setup.cluster.gpus_per_node // setup.template.gpus)
    cached = per_node * max(1, math.ceil(need[0] / per_node))  # replicas the warm nodes hold
    sync = setup.cluster.sync_period_s
    times, replicas = [], []
    t = 0.0
    while t < trace.duration_s:

        def ahead(lead: float, t: float = t) -> int:
            first, last = (
                int(t // BUCKET_S),
                int(min(trace.duration_s - 1e-9, t + lead) // BUCKET_S),
            )
            return max(need[first : last + 1])

        want = ahead(_cold_start_s(setup, with_pull=False))
        far = ahead(_cold_start_s(setup, with_pull=True))
        if far > cached:  # pods beyond the warm nodes must start a pull earlier
            want = max(want, far)
            cached = per_node * math.ceil(far / per_node)
        times.append(t)
        replicas.append(want)
        t += sync
    return SchedulePolicy(name, times, replicas)


def peak_policy(
    setup: SimSetup, trace: Trace, capacity: float, name: str = "peak-fixed"
) -> FixedPolicy:
    return FixedPolicy(
        name, max(setup.min_replicas, math.ceil(max(minute_rates(trace)) / capacity))
    )
