"""vllm-deploy's runtime installs into vLLM 0.33.0's environment without moving a package.

pip resolves ``vllm==0.33.0`` alone, then together with the runtime's requirements
(pyproject's ``dependencies``), for vLLM's image: CPython 3.12 (vLLM's docker/Dockerfile,
``ARG PYTHON_VERSION=3.12``) on manylinux x86_64, wheels only. Both resolutions must succeed
and agree on every package: a conflict, or any package vLLM brings at another version, or
any package vLLM does not bring, fails the test. pip reads each wheel's metadata with HTTP
range requests (``--use-feature=fast-deps``): PyPI metadata only, no wheel is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vllm_deploy.vllm_cli import VLLM_VERSION

ROOT = Path(__file__).parents[2]
PYTHON_VERSION = "3.12"
# The glibc of vLLM's CUDA base images is 2.35 (Ubuntu 22.04); manylinux tags up to it.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64",
]  # fmt: skip
# PyPI access as the user configured it (a mirror, a CA); not this machine's local wheels.
_PIP_ENV = (
    "PIP_INDEX_URL",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT",
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _resolve(requirements: list[str], report: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _PIP_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull
    cmd = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--disable-pip-version-check", "--report", str(report), "--only-binary=:all:",
        "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "--use-feature=fast-deps", *(f"--platform={p}" for p in PLATFORMS), *requirements,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"pip cannot resolve {requirements}:\n{proc.stderr[-3000:]}"
    installs = json.loads(report.read_text())["install"]
    return {_canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}


@pytest.mark.timeout(660)
def test_the_runtime_moves_and_adds_nothing_in_vllms_environment(tmp_path: Path) -> None:
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    vllm = f"vllm=={VLLM_VERSION}"
    with ThreadPoolExecutor(2) as pool:
        alone_job = pool.submit(_resolve, [vllm], tmp_path / "alone.json")
        together_job = pool.submit(_resolve, [vllm, *runtime], tmp_path / "together.json")
        alone, together = alone_job.result(), together_job.result()
    assert alone["vllm"] == VLLM_VERSION and "torch" in alone  # the real vLLM tree
    moved = {n: f"{v} -> {together.get(n)}" for n, v in alone.items() if together.get(n) != v}
    assert moved == {}, f"installing vllm-deploy would move packages vLLM pins: {moved}"
    added = sorted(set(together) - set(alone))
    assert added == [], f"vllm-deploy's runtime would add packages to vLLM's image: {added}"
