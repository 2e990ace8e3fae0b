"""The comparison behind benchmarks/validate_sim_cluster.py: cluster runs and a simulation of the
same trace, side by side, with the tolerances docs/capacity.md states and justifies.

Times are seconds of the trace (t = 0 at its first possible arrival). Phases are the trace's
rate steps: base, burst, after. A failed request counts as an infinite TTFT.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from vllm_deploy.sim.batching import OK
from vllm_deploy.sim.policies import HpaPolicy
from vllm_deploy.sim.report import percentile
from vllm_deploy.sim.simulator import RunResult
from vllm_deploy.sim.trace import Trace

INF = math.inf
Summary = dict[str, Any]
# measure -> (relative, absolute): within when |b - a| <= max(relative x |a|, absolute).
TOLERANCES: dict[str, tuple[float, float]] = {
    "scale step time (s)": (0.0, 2.0),
    "first scale-up after the burst began (s)": (0.0, 2.0),
    "max replicas desired": (0.0, 0.0),
    "max replicas ready": (0.0, 0.0),
    "last return to min, from the burst's end (s)": (0.0, 2.0),
    "pod-seconds on a GPU": (0.10, 0.0),
    "TTFT p50 (ms)": (0.15, 10.0),
    "TTFT p95 (ms)": (0.25, 15.0),
    "ITL mean (ms)": (0.10, 0.0),
}
STEPS = "scale steps, in order, at the same sync"


def _phases(trace: Trace) -> list[tuple[str, float, float]]:
    names = ("base", "burst", "after")
    bounds = [t for t, _ in trace.steps] + [trace.duration_s]
    return [
        (names[i] if i < 3 else f"phase {i}", a, b)
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]


def _changes(points: Sequence[tuple[float, int]]) -> list[tuple[float, int, int]]:
    out, last = [], None
    for t, value in points:
        if last is not None and value != last:
            out.append((round(t, 2), last, value))
        last = value
    return out


def _latency(
    trace: Trace, ttfts: list[float], itls: list[float | None]
) -> dict[str, dict[str, float]]:
    out = {}
    for name, a, b in _phases(trace):
        values = sorted(v for t, v in zip(trace.arrivals, ttfts, strict=True) if a <= t < b)
        gaps = [v for t, v in zip(trace.arrivals, itls, strict=True) if a <= t < b and v]
        out[name] = {
            "requests": len(values),
            "failed": sum(v == INF for v in values),
            "TTFT p50 (ms)": percentile(values, 0.5) * 1000,
            "TTFT p95 (ms)": percentile(values, 0.95) * 1000,
            "ITL mean (ms)": sum(gaps) / len(gaps) * 1000 if gaps else INF,
        }
    return out


def _summary(
    trace: Trace,
    floor: int,
    desired: list[tuple[float, int]],
    ready: list[tuple[float, int]],
    pod_spans: list[tuple[float, float]],
    ttfts: list[float],
    itls: list[float | None],
    hpa: list[tuple[float, float | None]],
) -> Summary:
    steps = _changes(desired)
    burst_at, burst_end = trace.steps[1][0], trace.steps[2][0]
    # The last time desired came back to the floor (before the burst's end when the HPA
    # had scaled in during it: negative), if it stayed there.
    back = [t for t, _, to in steps if to == floor and t >= burst_at]
    if desired[-1][1] != floor:
        back = []
    return {
        "desired": desired,
        "ready": ready,
        "ttft_s": ttfts,
        "hpa_metric": hpa,
        "steps": steps,
        "first scale-up after the burst began (s)": next(
            (t - burst_at for t, a, b in steps if b > a and t >= burst_at), None
        ),
        "max replicas desired": max(d for _, d in desired),
        "max replicas ready": max(r for _, r in ready),
        "last return to min, from the burst's end (s)": back[-1] - burst_end if back else None,
        "pod-seconds on a GPU": sum(
            max(0.0, min(b, trace.duration_s) - max(a, 0.0)) for a, b in pod_spans
        ),
        "phases": _latency(trace, ttfts, itls),
    }


def cluster_summary(trace: Trace, floor: int, report: dict[str, Any], offset: float) -> Summary:
    """A `rehearse burst --trace` report; ``offset``: the trace's t = 0 in the report's clock."""
    timeline = report["replicas_timeline"]
    records = report["records"]
    assert len(records) == len(trace), "one record per trace request, in order"
    ttfts = [
        r["ttft_s"] if r["outcome"] == "ok" and r["ttft_s"] is not None else INF for r in records
    ]
    # Mean inter-token latency of each request served: its decode time over its gaps.
    itls = [
        (r["end"] - r["start"] - r["ttft_s"]) / (r["completion_tokens"] - 1)
        if r["outcome"] == "ok" and r["ttft_s"] is not None and (r["completion_tokens"] or 0) > 1
        else None
        for r in records
    ]
    spans = []
    for pod in report["pods"]:
        if pod["started"] is None:  # never bound to a node: Pending
            continue
        gone = next((x for x in (pod["terminated"], pod["deleted"]) if x is not None), INF)
        spans.append((pod["started"] - offset, gone - offset))
    hpa = [(t - offset, metric) for t, metric, _ in report.get("hpa_timeline", [])]
    return _summary(
        trace,
        floor,
        [(t - offset, int(d)) for t, d, _ in timeline],
        [(t - offset, int(r)) for t, _, r in timeline],
        spans,
        ttfts,
        itls,
        hpa,
    )


def _sim_ready(run: RunResult) -> list[tuple[float, int]]:
    """Pods Ready and not terminating, as the Deployment's readyReplicas counts them."""
    deltas: list[tuple[float, int]] = []
    for pod in run.pods:
        if pod.ready_at < INF:
            deltas.append((pod.ready_at, 1))
            if (gone := min(pod.deleted_at, pod.exit_at)) < INF:
                deltas.append((gone, -1))
    out, n = [], 0
    for t, d in sorted(deltas):
        n += d
        out.append((t, n))
    return out


def sim_summary(trace: Trace, floor: int, run: RunResult, policy: HpaPolicy) -> Summary:
    desired = [(0.0, run.timeline[0].desired)] + [(p.t, p.desired) for p in run.timeline]
    ttfts = [
        run.first_token[r] - t if run.status[r] == OK else INF for r, t in enumerate(trace.arrivals)
    ]
    itls: list[float | None] = [
        (run.done[r] - run.first_token[r]) / (n - 1) if run.status[r] == OK and n > 1 else None
        for r, n in enumerate(trace.output_tokens)
    ]
    spans = [(p.scheduled, p.exit_at) for p in run.pods if p.scheduled < INF]
    hpa = [
        (
            d.time,
            None if not d.metrics or d.metrics[0].current is None else d.metrics[0].current / 1000,
        )
        for d in policy.decisions
    ]
    return _summary(trace, floor, desired, _sim_ready(run), spans, ttfts, itls, hpa)


def _within(name: str, a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    rel, absolute = TOLERANCES[name]
    return abs(b - a) <= max(rel * abs(a), absolute) + 1e-9


def _matched_steps(a: Summary, b: Summary) -> int:
    """Steps taken in the same order, each at the same sync (within the step tolerance)."""
    n = 0
    for (ta, fa, toa), (tb, fb, tob) in zip(a["steps"], b["steps"], strict=False):
        if (fa, toa) != (fb, tob) or not _within("scale step time (s)", ta, tb):
            break
        n += 1
    return n


def rows(a: Summary, b: Summary) -> list[dict[str, Any]]:
    """Each measure of ``a`` against ``b``: values, tolerance, whether within."""
    matched = _matched_steps(a, b)
    out = [
        {
            "what": STEPS,
            "a": len(a["steps"]),
            "b": len(b["steps"]),
            "matched": matched,
            "within": matched == len(a["steps"]) == len(b["steps"]),
            "tolerance": "scale step time (s)",
        }
    ]
    for key in (
        "first scale-up after the burst began (s)",
        "max replicas desired",
        "max replicas ready",
        "last return to min, from the burst's end (s)",
        "pod-seconds on a GPU",
    ):
        out.append(
            {
                "what": key,
                "a": a[key],
                "b": b[key],
                "within": _within(key, a[key], b[key]),
                "tolerance": key,
            }
        )
    for phase, values in a["phases"].items():
        for key in ("TTFT p50 (ms)", "TTFT p95 (ms)", "ITL mean (ms)"):
            va, vb = values[key], b["phases"][phase][key]
            out.append(
                {
                    "what": f"{phase}: {key}",
                    "a": va,
                    "b": vb,
                    "within": _within(key, va, vb),
                    "tolerance": key,
                }
            )
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if value == INF else f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return "-" if value is None else str(value)


def _tolerance(name: str) -> str:
    rel, absolute = TOLERANCES[name]
    unit = " ms" if "(ms)" in name else " s" if "(s)" in name else ""
    parts = ([f"{rel:.0%}"] if rel else []) + ([f"{absolute:g}{unit}"] if absolute else [])
    return (
        ("each ±" if name == "scale step time (s)" else "±") + " or ".join(parts)
        if parts
        else "equal"
    )


def _span(values: list[Any]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    low, high = _fmt(min(known)), _fmt(max(known))
    return (low if low == high else f"{low} to {high}") + (
        " and -" if len(known) < len(values) else ""
    )


def table(
    cluster: list[Summary], sim: Summary, perturbed: Sequence[Summary] = (), first_run: int = 1
) -> str:
    """Markdown: every cluster run and the simulator, whether the simulator is within the
    tolerance of each run, and whether the runs are within it of each other; with
    ``perturbed``, the range of the simulator's values over those runs too."""
    pairs = [rows(c, sim) for c in cluster]
    spans = [rows(cluster[0], p) for p in perturbed]
    between = rows(cluster[0], cluster[1]) if len(cluster) > 1 else None
    heads = [f"cluster run {i + first_run}" for i in range(len(cluster))] + ["simulator"]
    heads += ["simulator, inputs perturbed"] if spans else []
    lines = [
        "| measure | " + " | ".join(heads) + " | tolerance | simulator within | runs within |",
        "|---" * (len(heads) + 4) + "|",
    ]
    for i, row in enumerate(pairs[0]):
        values = [p[i]["a"] for p in pairs] + [row["b"]]
        marks = ["yes" if p[i]["within"] else "**no**" for p in pairs]
        if row["what"] == STEPS:
            values = [
                f"{v} ({p[i]['matched']} as the simulator's)"
                for v, p in zip(values, pairs, strict=False)
            ] + [str(row["b"])]
            marks = [
                f"{p[i]['matched']}/{p[i]['a']}" + ("" if p[i]["within"] else " **no**")
                for p in pairs
            ]
        runs = "-" if between is None else ("yes" if between[i]["within"] else "**no**")
        if between is not None and row["what"] == STEPS:
            runs = f"{between[i]['matched']}/{between[i]['a']}" + (
                "" if between[i]["within"] else " **no**"
            )
        cells = [_fmt(v) for v in values] + ([_span([p[i]["b"] for p in spans])] if spans else [])
        lines.append(
            f"| {row['what']} | "
            + " | ".join(cells)
            + f" | {_tolerance(row['tolerance'])} | {', '.join(marks)} | {runs} |"
        )
    return "\n".join(lines)


def steps_text(summary: Summary) -> str:
    return ", ".join(f"{t:.1f} s {a}→{b}" for t, a, b in summary["steps"])
