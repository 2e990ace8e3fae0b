"""benchmarks/validate_sim_cluster.py, the capacity simulator against the local cluster: the
simulator side lined up with a cluster run (deterministic, no cluster), and the whole tool on a
short trace through a real local cluster (root). No timing is asserted: the numbers are the
benchmark's, in docs/capacity.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.local.conftest import needs_root
from vllm_deploy.sim.profile import load_profile
from vllm_deploy.sim.trace import parse_trace
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).parents[2]
PROFILE = Path(__file__).parent / "data" / "local-simulated-profile.yaml"
# A short 6x burst: two pods serve 2 req/s, 12 req/s wants the third.
TRACE = "burst:rate=2,factor=6,at=3,for=10,prompt=32,prompt_sd=8,output=32,output_sd=8"


@pytest.fixture
def tool(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import validate_sim_cluster

    return validate_sim_cluster


def _simulated(tool: ModuleType) -> dict[str, Any]:
    spec = load_spec(tool.SPEC)
    trace = parse_trace(tool.TRACE, duration=tool.DURATION, seed=tool.SEED, max_model_len=8192)
    # What a cluster run reports and measures, as validate_sim_cluster reads it.
    report = {"gpus_in_cluster": 3, "scrape_interval_s": 1.0, "hpa_sync_s": 15.0}
    timings = {"decision_to_ready_s": 2.2, "ready_to_first_request_s": 1.0, "hpa_first_sync_s": 10}
    run, policy = tool.simulated(
        spec, load_profile(PROFILE), trace, report, timings, seed=tool.SEED
    )
    import sim_cluster_compare

    summary: dict[str, Any] = sim_cluster_compare.sim_summary(trace, 2, run, policy)
    summary["requests"] = len(trace)
    return summary


def test_the_simulator_side_is_deterministic_and_bounded_by_the_cluster(tool: ModuleType) -> None:
    import sim_cluster_compare as compare

    first, again = _simulated(tool), _simulated(tool)
    assert first == again
    # The spec's bounds and the cluster's GPUs: desired reaches max_replicas (4), ready
    # stops at the three GPUs; the burst scales out, and the run ends at min_replicas.
    assert first["max replicas desired"] == 4 and first["max replicas ready"] == 3
    assert first["steps"][0][1] == 2 and first["steps"][0][2] > 2
    assert first["desired"][-1][1] == 2
    assert first["first scale-up after the burst began (s)"] > 0
    phases = first["phases"]
    assert list(phases) == ["base", "burst", "after"]
    assert sum(p["requests"] for p in phases.values()) == first["requests"]
    assert all(p["failed"] == 0 for p in phases.values())
    assert phases["burst"]["TTFT p95 (ms)"] > phases["base"]["TTFT p95 (ms)"]
    # A summary against itself: every measure within its tolerance, one table row each.
    rows = compare.rows(first, first)
    assert all(r["within"] for r in rows)
    lines = compare.table([first], first, [first, first]).splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0].count("|") == 8  # measure, run, simulator, perturbed, tolerance, two marks
    assert lines[2].startswith(f"| {compare.STEPS} |")


def test_perturbations_move_one_input_each(tool: ModuleType) -> None:
    profile = load_profile(PROFILE)
    timings = {
        "decision_to_ready_s": 0.2,
        "ready_to_first_request_s": 1.0,
        "hpa_first_sync_s": 14.5,
    }
    variants = tool.perturbations(profile, timings, 15.0)
    assert len(variants) == 6
    decode = [p.step.decode_base_s for p, _ in variants[:2]]
    assert decode == pytest.approx(
        [0.9 * profile.step.decode_base_s, 1.1 * profile.step.decode_base_s]
    )
    moved = [t for _, t in variants[2:]]
    assert [t["hpa_first_sync_s"] for t in moved[:2]] == [13.5, 0.5]  # the phase wraps the sync
    assert [t["decision_to_ready_s"] for t in moved[2:]] == [0.0, 0.7]  # a start is never < 0


def test_a_short_trace_on_the_cluster_against_the_simulator(tmp_path: Path) -> None:
    needs_root()
    plot = tmp_path / "compare.png"
    argv = [
        sys.executable,
        str(ROOT / "benchmarks" / "validate_sim_cluster.py"),
        "--out",
        str(tmp_path),
        "--plot",
        str(plot),
        "--profile",
        str(PROFILE),
        "--trace",
        TRACE,
        "--duration",
        "18",
        "--hpa-sync",
        "2",
        "--settle-seconds",
        "8",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "comparison.json").read_text())
    assert plot.stat().st_size > 10_000
    (run,) = result["runs"]
    trace = parse_trace(TRACE, duration=18, seed=1, max_model_len=8192)
    assert set(run["measured"]) == {
        "decision_to_ready_s",
        "ready_to_first_request_s",
        "hpa_first_sync_s",
        "pods_measured",
    }
    assert 0 <= run["measured"]["hpa_first_sync_s"] < 2
    for side in ("cluster", "simulator"):
        phases = run[side]["phases"]
        assert sum(p["requests"] for p in phases.values()) == len(trace)
        assert 2 <= run[side]["max replicas desired"] <= 4
    assert run["simulator"]["max replicas ready"] <= 3
    whats = [r["what"] for r in run["rows"]]
    assert "burst: TTFT p95 (ms)" in whats and "max replicas desired" in whats
    assert all(isinstance(r["within"], bool) for r in run["rows"])
    # The printed tables, one row per measure: the run's, and all runs with the perturbed.
    assert done.stdout.count("| burst: TTFT p95 (ms) |") == 2
