"""The burst rehearsal's checks on hand-made reports (the end-to-end runs are in
test_rehearse.py): times are seconds since the rehearsal began."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vllm_deploy.local.rehearse.checks import CHECKS
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).parents[2]
STABILISATION = "scale-in waited for the stabilisation window"


def _report(timeline: list[tuple[float, int]]) -> dict[str, Any]:
    return {
        "replicas_timeline": [[t, d, min(d, 3)] for t, d in timeline],
        "events": [
            {"t": 10.0, "event": "burst"},
            {"t": 100.0, "event": "burst ended"},
        ],
        "pods": [],
        "requests": {"failed": 0, "by_status": {"200": 10}},
        "hpa_sync_s": 15.0,
        "scrape_interval_s": 1.0,
    }


def _stabilisation(timeline: list[tuple[float, int]]) -> bool:
    spec = load_spec(ROOT / "examples" / "local.yaml")  # stabilisation 15 s, floor 2
    checks = CHECKS["burst"](_report(timeline), spec, [])
    passed: bool = next(c for c in checks if c["name"] == STABILISATION)["passed"]
    return passed


def test_scale_in_after_the_burst_ended_passes() -> None:
    assert _stabilisation([(0, 2), (20, 4), (101, 4), (115, 3), (120, 2)])


def test_back_at_the_floor_before_the_burst_ended_leaves_nothing_to_wait_for() -> None:
    # An open-loop trace's burst can outlast the queue: the HPA scaled in during it.
    assert _stabilisation([(0, 2), (20, 4), (60, 3), (75, 2)])
    # Still above the floor when the burst ended, and never scaled in: a failure.
    assert not _stabilisation([(0, 2), (20, 4)])
