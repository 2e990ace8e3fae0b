"""``--plot FILE.png``: arrivals, replicas, queue and TTFT p95 over time, policies overlaid."""

from __future__ import annotations

import math
from pathlib import Path

from vllm_deploy.sim.batching import OK
from vllm_deploy.sim.oracle import BUCKET_S, minute_rates
from vllm_deploy.sim.report import percentile
from vllm_deploy.sim.simulator import RunResult

__all__ = ["plot_runs"]


def _ttft_p95_per_minute(run: RunResult) -> tuple[list[float], list[float]]:
    buckets: dict[int, list[float]] = {}
    arrivals = run.trace.arrivals
    for r, t in enumerate(arrivals):
        ttft = run.first_token[r] - t if run.status[r] == OK else math.inf
        buckets.setdefault(int(t // BUCKET_S), []).append(ttft)
    xs, ys = [], []
    for b in sorted(buckets):
        values = sorted(buckets[b])
        xs.append(b * BUCKET_S / 60)
        ys.append(percentile(values, 0.95))
    return xs, ys


def plot_runs(runs: list[RunResult], path: Path, ttft_slo_s: float) -> Path:
    """Write a PNG with one panel per signal (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(11, 12), sharex=True)
    rates = minute_rates(runs[0].trace)
    axes[0].step([i for i in range(len(rates))], rates, where="post", color="black")
    axes[0].set_ylabel("arrivals (req/s)")
    axes[0].set_title(f"{runs[0].trace.name}: {len(runs[0].trace)} requests")
    for run in runs:
        minutes = [p.t / 60 for p in run.timeline]
        (line,) = axes[1].step(
            minutes, [p.desired for p in run.timeline], where="post", label=f"{run.policy} desired"
        )
        axes[1].step(
            minutes,
            [p.ready for p in run.timeline],
            where="post",
            linestyle=":",
            color=line.get_color(),
            label=f"{run.policy} ready",
        )
        axes[2].plot(
            minutes, [p.waiting for p in run.timeline], color=line.get_color(), label=run.policy
        )
        xs, ys = _ttft_p95_per_minute(run)
        capped = [min(y, 10 * ttft_slo_s) for y in ys]
        axes[3].plot(xs, capped, color=line.get_color(), label=run.policy)
    axes[1].set_ylabel("replicas")
    axes[2].set_ylabel("requests waiting")
    axes[3].set_ylabel("TTFT p95 (s, per minute)")
    axes[3].axhline(ttft_slo_s, color="red", linestyle="--", linewidth=1, label="SLO")
    axes[3].set_yscale("log")
    axes[3].set_xlabel("minutes")
    for ax in axes[1:]:
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
