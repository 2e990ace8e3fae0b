"""vllm-deploy's runtime installs into vLLM 0.33.0's environment without moving a package,
and requirements-image.lock (the GPU image's venv) is that environment, current.

uv resolves ``vllm==0.33.0`` alone, then together with the runtime's requirements
(pyproject's ``dependencies``), for the image's interpreter: CPython 3.12 (vLLM's
docker/Dockerfile, ``ARG PYTHON_VERSION=3.12``) on manylinux x86_64, wheels only, with
environment markers evaluated for 3.12 (pip evaluates them for the Python that runs it, 3.11
here, and so resolves another tree: scripts/image_lock.py). Both resolutions must succeed and
agree on every package, and the lock must pin exactly that set: a conflict, a package vLLM
brings at another version, one vLLM does not bring, or a stale lock fails. uv reads PyPI's
metadata only; no wheel is downloaded. The offline tests check the lock against pyproject.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

from vllm_deploy.vllm_cli import VLLM_VERSION

ROOT = Path(__file__).parents[2]


def _image_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_lock", ROOT / "scripts" / "image_lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("image_lock", module)
    spec.loader.exec_module(module)
    return module


LOCK = _image_lock()
LOCK_TEXT = (ROOT / "requirements-image.lock").read_text()
PINS: dict[str, str] = LOCK.read_pins(LOCK_TEXT)


def test_the_lock_pins_vllm_and_one_wheel_hash_per_package() -> None:
    assert PINS["vllm"] == VLLM_VERSION and "torch" in PINS and len(PINS) > 100
    entries = re.findall(
        r"^([A-Za-z0-9._-]+)==\S+ \\\n    --hash=sha256:([0-9a-f]{64})$", LOCK_TEXT, re.M
    )
    assert len(entries) == len(PINS) == LOCK_TEXT.count("--hash=")


def test_the_lock_satisfies_every_runtime_requirement() -> None:
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in runtime:
        req = Requirement(line)
        version = PINS.get(LOCK.canonical(req.name))
        assert version is not None and req.specifier.contains(version, prereleases=True), (
            f"{line}: the image lock has {req.name} {version}; run `make image-lock`"
        )


@pytest.mark.timeout(660)
def test_the_runtime_moves_and_adds_nothing_and_the_lock_is_current(tmp_path: Path) -> None:
    vllm = f"vllm=={VLLM_VERSION}"
    (tmp_path / "alone").mkdir(), (tmp_path / "together").mkdir()
    with ThreadPoolExecutor(2) as pool:
        alone_job = pool.submit(LOCK.resolve, [vllm], tmp_path / "alone")
        together_job = pool.submit(LOCK.resolve, LOCK.image_requirements(), tmp_path / "together")
        alone, together = alone_job.result(), together_job.result()
    assert alone["vllm"] == VLLM_VERSION and "torch" in alone  # the real vLLM tree
    moved = {n: f"{v} -> {together.get(n)}" for n, v in alone.items() if together.get(n) != v}
    assert moved == {}, f"installing vllm-deploy would move packages vLLM pins: {moved}"
    added = sorted(set(together) - set(alone))
    assert added == [], f"vllm-deploy's runtime would add packages to vLLM's image: {added}"
    stale = {n: f"{PINS.get(n)} -> {v}" for n, v in together.items() if PINS.get(n) != v}
    assert stale == {} and set(PINS) == set(together), (
        f"stale image lock ({stale}): run `make image-lock`"
    )
