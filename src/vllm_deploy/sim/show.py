"""The terminal side of ``simulate``: a progress bar while it runs, a table when it is done."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from vllm_deploy.sim.commands import Outcome
from vllm_deploy.sim.commands import Progress as ProgressCallback
from vllm_deploy.sim.setup import SimSetup
from vllm_deploy.sim.trace import Trace

__all__ = ["print_outcome", "progress_bar"]


@contextmanager
def progress_bar(console: Console | None = None) -> Iterator[ProgressCallback]:
    """Yields ``step(label, fraction)``; one bar per label, drawn on stderr."""
    console = console or Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def step(label: str, fraction: float) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=1.0)
            bar.update(tasks[label], completed=fraction)

        yield step


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def print_outcome(
    outcome: Outcome, setup: SimSetup, trace: Trace, console: Console | None = None
) -> None:
    # Piped or captured output gets the whole table, not 80 squeezed columns.
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    slo = setup.slo
    console.print(
        f"trace {trace.name}: {len(trace)} requests over {trace.duration_s:.0f} s; "
        f"profile {setup.profile.name}; SLO TTFT p95 <= {slo.ttft_p95_s:g} s, ITL p95 <= "
        f"{slo.itl_p95_s:g} s, errors <= {slo.error_ratio:g}"
    )
    if outcome.capacity_rps is not None:
        console.print(f"one pod sustains {outcome.capacity_rps:.1f} req/s within the SLO")
    table = Table()
    for column in (
        "policy",
        "SLO attainment",
        "meets SLO",
        "TTFT p50",
        "TTFT p95",
        "TTFT p99",
        "E2E p95",
        "errors",
        "GPU-hours",
        "max replicas",
        "scale events",
    ):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for r in outcome.reports:
        table.add_row(
            r.name,
            f"{r.slo_attainment:.2%}",
            "yes" if r.meets_slo else "no",
            _s(r.ttft_p50_s),
            _s(r.ttft_p95_s),
            _s(r.ttft_p99_s),
            _s(r.e2e_p95_s),
            f"{r.error_ratio:.2%}",
            f"{r.gpu_hours:.2f}",
            str(r.max_replicas),
            str(r.scale_events),
        )
    console.print(table)
    if outcome.recommendation is not None:
        console.print(
            f"recommended ({outcome.recommendation.evaluated} settings simulated); "
            "paste into the spec:"
        )
        console.print(outcome.recommendation.snippet(), markup=False, highlight=False)
