"""`vllm-deploy simulate` through the real CLI: report JSON, plot, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from vllm_deploy.cli import app

ROOT = Path(__file__).parents[2]
PROD = str(ROOT / "examples" / "prod.yaml")
TRACE = "burst:rate=18,factor=5,at=120,for=300"


def test_simulate_compare_writes_report_and_plot(tmp_path: Path) -> None:
    report, plot = tmp_path / "r.json", tmp_path / "p.png"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "-f",
            PROD,
            "--profile",
            "llama-3.1-8b-h100",
            "--trace",
            TRACE,
            "--duration",
            "600",
            "--seed",
            "2",
            "--compare",
            "--report",
            str(report),
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["slo"]["ttft_p95_s"] == 2.0 and data["trace"]["name"].startswith("burst:")
    assert data["profile"]["name"] == "llama-3.1-8b-h100"
    names = [p["name"] for p in data["policies"]]
    assert names == ["spec", "seed", "oracle", "peak-fixed"]
    fields = {
        "name",
        "slo_attainment",
        "ttft_p50_s",
        "ttft_p95_s",
        "ttft_p99_s",
        "e2e_p95_s",
        "gpu_hours",
        "max_replicas",
        "scale_events",
    }
    assert all(fields <= set(p) for p in data["policies"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "one pod sustains" in result.output and "peak-fixed" in result.output


def test_recommend_prints_a_spec_snippet(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vllm_deploy",
            "simulate",
            "-f",
            PROD,
            "--profile",
            "llama-3.1-8b-h100",
            "--trace",
            "poisson:rate=10",
            "--duration",
            "300",
            "--recommend",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    snippet = proc.stdout.split("paste into the spec:")[1]
    assert "autoscaling:" in snippet and "min_replicas: 1" in snippet  # 10 req/s fit one pod


def test_errors_name_the_option() -> None:
    runner = CliRunner()
    bad_trace = runner.invoke(
        app, ["simulate", "-f", PROD, "--profile", "llama-3.1-8b-h100", "--trace", "zipf:rate=1"]
    )
    assert bad_trace.exit_code == 1 and "--trace has value 'zipf:rate=1'" in bad_trace.output
    bad_profile = runner.invoke(
        app, ["simulate", "-f", PROD, "--profile", "h200", "--trace", "poisson:rate=1"]
    )
    assert bad_profile.exit_code == 1 and "--profile has value 'h200'" in bad_profile.output
