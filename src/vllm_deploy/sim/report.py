"""From a run to the figures that matter: SLO attainment, latency percentiles, GPU-hours.

- ``slo_attainment``: the share of all requests that were served with a time to first token
  within ``slo.ttft_p95_s`` (a failed request counts as a miss).
- ``slo_windows_met``: the share of ``slo.window`` windows (by arrival time, those with
  requests) whose p95 TTFT, p95 ITL and error ratio all meet the SLO.
- ``meets_slo``: attainment at least ``attainment`` (0.99 by default), the error ratio and the
  p95 ITL of the whole run within the SLO.
- Percentiles are nearest-rank over served requests; a request's ITL is its mean
  inter-token latency ((done - first token) / (output tokens - 1)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vllm_deploy.sim.batching import OK
from vllm_deploy.sim.simulator import RunResult
from vllm_deploy.spec.models import Slo

__all__ = ["PolicyReport", "percentile", "summarize"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank; NaN for no values."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


@dataclass(frozen=True, slots=True)
class PolicyReport:
    name: str
    slo_attainment: float
    ttft_p50_s: float
    ttft_p95_s: float
    ttft_p99_s: float
    e2e_p95_s: float
    itl_p95_s: float
    error_ratio: float
    slo_windows_met: float
    meets_slo: bool
    gpu_hours: float
    busy_gpu_hours: float
    max_replicas: int
    scale_events: int
    requests: int

    def as_json(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def _window_ok(ttfts: list[float], itls: list[float], errors: int, total: int, slo: Slo) -> bool:
    ttfts.sort()
    itls.sort()
    ttft_ok = not ttfts or percentile(ttfts, 0.95) <= slo.ttft_p95_s
    itl_ok = not itls or percentile(itls, 0.95) <= slo.itl_p95_s
    return ttft_ok and itl_ok and errors / total <= slo.error_ratio


def summarize(run: RunResult, slo: Slo, attainment: float = 0.99) -> PolicyReport:
    trace, status, first, done = run.trace, run.status, run.first_token, run.done
    n = len(trace)
    arrivals, outputs = trace.arrivals, trace.output_tokens
    ttfts: list[float] = []
    itls: list[float] = []
    e2es: list[float] = []
    good = errors = 0
    window = slo.window_s
    buckets: dict[int, tuple[list[float], list[float], list[int]]] = {}
    for r in range(n):
        b = buckets.setdefault(int(arrivals[r] // window), ([], [], [0, 0]))
        b[2][1] += 1
        if status[r] != OK:
            errors += 1
            b[2][0] += 1
            continue
        ttft = first[r] - arrivals[r]
        ttfts.append(ttft)
        b[0].append(ttft)
        e2es.append(done[r] - arrivals[r])
        if ttft <= slo.ttft_p95_s:
            good += 1
        if outputs[r] > 1:
            itl = (done[r] - first[r]) / (outputs[r] - 1)
            itls.append(itl)
            b[1].append(itl)
    windows_ok = sum(_window_ok(t, i, c[0], c[1], slo) for t, i, c in buckets.values())
    ttfts.sort()
    itls.sort()
    e2es.sort()
    error_ratio = errors / n if n else 0.0
    share = good / n if n else 1.0
    itl_p95 = percentile(itls, 0.95)
    meets = share >= attainment and error_ratio <= slo.error_ratio and not itl_p95 > slo.itl_p95_s
    return PolicyReport(
        name=run.policy,
        slo_attainment=share,
        ttft_p50_s=percentile(ttfts, 0.50),
        ttft_p95_s=percentile(ttfts, 0.95),
        ttft_p99_s=percentile(ttfts, 0.99),
        e2e_p95_s=percentile(e2es, 0.95),
        itl_p95_s=itl_p95,
        error_ratio=error_ratio,
        slo_windows_met=windows_ok / len(buckets) if buckets else 1.0,
        meets_slo=meets,
        gpu_hours=run.gpu_hours,
        busy_gpu_hours=run.busy_s * run.gpus_per_pod / 3600,
        max_replicas=max((p.desired for p in run.timeline), default=0),
        scale_events=run.scale_events,
        requests=n,
    )
