"""The plot of benchmarks/validate_sim_cluster.py: a cluster run and the simulation of the same
trace overlaid, the other runs' desired replicas in grey (docs/capacity-cluster.png)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim_cluster_compare import Summary
from vllm_deploy.sim.report import percentile
from vllm_deploy.sim.trace import Trace


def _ttft_buckets(
    trace: Trace, ttfts: list[float], width: float
) -> tuple[list[float], list[float]]:
    buckets: dict[int, list[float]] = {}
    for t, v in zip(trace.arrivals, ttfts, strict=True):
        buckets.setdefault(int(t // width), []).append(v)
    return [(b + 0.5) * width for b in sorted(buckets)], [
        percentile(sorted(buckets[b]), 0.95) for b in sorted(buckets)
    ]


def _step(ax: Any, points: list[tuple[float, int]], end: float, **style: Any) -> None:
    xs = [t for t, _ in points if t <= end]
    ys = [v for t, v in points if t <= end]
    ax.step([*xs, end], [*ys, ys[-1]], where="post", **style)


def plot(
    trace: Trace,
    cluster: Summary,
    sim: Summary,
    path: Path,
    target: float | None = None,
    others: Sequence[Summary] = (),
) -> Path:
    """Arrivals, replicas (desired, ready), the HPA's metric, TTFT p95 per 10 s: both overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        4, 1, figsize=(11, 11), sharex=True, gridspec_kw={"height_ratios": [1, 2, 1.5, 2]}
    )
    width, end = 10.0, trace.duration_s
    counts = [0] * (int(end // width) + 1)
    for t in trace.arrivals:
        counts[int(t // width)] += 1
    axes[0].step(
        [i * width for i in range(len(counts))],
        [c / width for c in counts],
        where="post",
        color="black",
    )
    axes[0].set_ylabel("arrivals (req/s)")
    axes[0].set_title(
        f"{trace.name}: {len(trace)} requests; local cluster (blue) and simulator (orange)"
    )
    _step(axes[1], cluster["desired"], end, color="tab:blue", label="cluster desired")
    _step(axes[1], cluster["ready"], end, color="tab:blue", linestyle=":", label="cluster ready")
    for i, other in enumerate(others, start=2):
        _step(
            axes[1],
            other["desired"],
            end,
            color="tab:gray",
            linewidth=0.8,
            alpha=0.7,
            label=f"cluster run {i} desired",
        )
    _step(
        axes[1], sim["desired"], end, color="tab:orange", linestyle="--", label="simulator desired"
    )
    _step(
        axes[1],
        [(0.0, sim["ready"][0][1]), *sim["ready"]],
        end,
        color="tab:orange",
        linestyle="-.",
        label="simulator ready",
    )
    axes[1].set_ylabel("replicas")
    axes[1].set_ylim(0, max(cluster["max replicas desired"], sim["max replicas desired"]) + 0.5)
    for label, summary, color, marker in (
        ("cluster", cluster, "tab:blue", "o"),
        ("simulator", sim, "tab:orange", "x"),
    ):
        points = [(t, v) for t, v in summary["hpa_metric"] if v is not None and 0 <= t <= end]
        axes[2].plot(
            [t for t, _ in points],
            [v for _, v in points],
            marker,
            color=color,
            label=f"{label}: HPA's metric at a sync",
        )
    if target is not None:
        axes[2].axhline(target, color="red", linestyle="--", linewidth=1, label="target per pod")
    axes[2].set_ylabel("requests waiting\nper pod (HPA)")
    for label, summary, color in (
        ("cluster", cluster, "tab:blue"),
        ("simulator", sim, "tab:orange"),
    ):
        xs, ys = _ttft_buckets(trace, summary["ttft_s"], width)
        axes[3].plot(xs, ys, color=color, marker=".", label=f"{label} TTFT p95 per {width:g} s")
    axes[3].set_yscale("log")
    axes[3].set_ylabel("TTFT p95 (s)")
    axes[3].set_xlabel("seconds of the trace")
    for ax in axes:
        for t, _ in trace.steps[1:]:
            ax.axvline(t, color="grey", linewidth=0.8, linestyle="--")
    for ax in axes[1:]:
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
