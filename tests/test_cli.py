"""`vllm-deploy --help` for every subcommand; bad settings fail with one line naming the flag."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.main import get_command

from vllm_deploy.cli import app

SUBCOMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vllm_deploy", *args], capture_output=True, text=True, timeout=60
    )


def test_subcommands_exist() -> None:
    assert {"serve", "make-tiny-model"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("command", [[], *([c] for c in SUBCOMMANDS)])
def test_help(command: list[str]) -> None:
    proc = _cli(*command, "--help")
    assert proc.returncode == 0
    assert "Usage: vllm-deploy" in proc.stdout


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--max-num-seqs", "0"], "--max-num-seqs"), (["--sim-error-rate", "2"], "--sim-error-rate"),
     (["--sim-slowdown", "0.1"], "--sim-slowdown"), (["--port", "70000"], "--port"),
     (["--max-model-len", "4"], "--max-model-len")],
)  # fmt: skip
def test_bad_settings_fail_fast_naming_the_flag(args: list[str], flag: str) -> None:
    proc = _cli("serve", "--engine", "simulated", "--model", "m", *args)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} has value")


def test_reference_engine_needs_a_local_model_directory(tmp_path: object) -> None:
    proc = _cli("serve", "--engine", "reference", "--model", "/nonexistent/model")
    assert proc.returncode == 1
    assert "--model has value '/nonexistent/model'" in proc.stderr


def test_extra_arguments_are_refused_by_gpu_free_engines() -> None:
    proc = _cli("serve", "--engine", "simulated", "--model", "m", "--", "--dtype", "half")
    assert proc.returncode == 1
    assert "--engine vllm" in proc.stderr
