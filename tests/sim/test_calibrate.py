"""`vllm-deploy calibrate` against a real server process: our simulated engine, whose latency
model is known, so the fitted profile can be checked against its settings."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vllm_deploy.harness import ServerProcess
from vllm_deploy.sim.calibrate import fit_line
from vllm_deploy.sim.profile import load_profile

# TTFT = 30 ms + 0.1 ms/token; ITL = 8 ms x (1 + 1.0 x (running - 1) / 7) with max_num_seqs 8.
ENGINE = ["--engine", "simulated", "--model", "calib", "--max-num-seqs", "8", "--max-model-len", "4096",
          "--sim-ttft-ms", "30", "--sim-prefill-ms-per-token", "0.1", "--sim-itl-ms", "8", "--sim-load-factor", "1.0"]  # fmt: skip


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(ENGINE, log_path=tmp_path_factory.mktemp("logs") / "calib.log") as server:
        yield server


def test_fit_line() -> None:
    assert fit_line([(1, 3.0), (2, 5.0), (3, 7.0)]) == pytest.approx((1.0, 2.0))
    assert fit_line([(4, 2.0), (4, 4.0)]) == (3.0, 0.0)


def test_calibrate_recovers_the_engines_latency_model(
    engine: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "sim-engine.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "vllm_deploy", "calibrate", "--url", engine.url, "-o", str(out), "--max-concurrency",
         "8", "--max-num-seqs", "8", "--repeats", "2"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "prefill:" in proc.stderr and "decode:" in proc.stderr
    profile = load_profile(out)
    step = profile.step
    # Timer and HTTP overheads on a shared 2-core machine add a few ms; the slopes must match.
    assert 0.025 < step.prefill_base_s < 0.060
    assert step.prefill_per_token_s == pytest.approx(0.0001, rel=0.35)
    assert 0.007 < step.decode_base_s + step.decode_per_seq_s < 0.012
    assert step.decode_per_seq_s == pytest.approx(0.008 / 7, rel=0.5)
    assert step.prefill_interference < 0.3 and not step.prefill_serial  # no shared device
    assert profile.max_num_seqs == 8 and profile.sources and profile.model == "calib"
