"""The Dockerfiles: every COPY source exists and is in the build context; the final stages
run as a numeric UID, install no compiler, and carry a healthcheck and OCI labels."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILES = sorted(p.name for p in ROOT.glob("Dockerfile*"))
# apt packages (and binaries) that compile or link code.
COMPILERS = re.compile(
    r"^(gcc|g\+\+|cpp|clang|cc|c\+\+|build-essential|make|cmake|ninja-build|nvcc|"
    r"cuda-nvcc.*|cuda-compiler.*|.*-dev|gcc-\d+|g\+\+-\d+)$"
)


def _instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / name).read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _stages(name: str) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions(name):
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _in_context(path: str) -> bool:
    """Whether .dockerignore (an allowlist after `*`) lets ``path`` into the build context."""
    included = False
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negate, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            included = negate
    return included


def test_there_are_the_three_dockerfiles() -> None:
    assert DOCKERFILES == ["Dockerfile", "Dockerfile.cpu", "Dockerfile.vllm-base"]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copy_source_exists_in_the_build_context(name: str) -> None:
    copies = [args for inst, args in _instructions(name) if inst == "COPY" and "--from" not in args]
    assert copies
    for args in copies:
        sources = [s for s in shlex.split(args) if not s.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"{name}: COPY {source}: no such file"
            assert _in_context(source), f"{name}: COPY {source}: excluded by .dockerignore"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_final_stage_runs_as_a_numeric_uid(name: str) -> None:
    users = [args for inst, args in _stages(name)[-1] if inst == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]{3,}(:[0-9]+)?", users[-1]), users


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cpu"])
def test_the_final_stage_installs_no_compiler(name: str) -> None:
    final = _stages(name)[-1]
    installed = [
        word
        for inst, args in final
        if inst == "RUN" and "install" in args
        for word in shlex.split(args.replace("&&", " "))
    ]
    assert not [w for w in installed if COMPILERS.match(w)], installed
    # What comes from the builder: the venv (trimmed of nvcc) and the prebuilt Triton module.
    copied = [args.split()[-1] for inst, args in final if inst == "COPY"]
    assert set(copied) <= {"/opt/venv", "/opt/vllm-deploy"}, copied


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cpu"])
def test_the_image_has_a_healthcheck_labels_and_the_entrypoint(name: str) -> None:
    final = dict(_stages(name)[-1])
    assert "/health/live" in final["HEALTHCHECK"] and "urllib.request" in final["HEALTHCHECK"]
    assert "org.opencontainers.image.version" in final["LABEL"]
    assert final["ENTRYPOINT"] == '["vllm-deploy"]'


def test_the_gpu_image_serves_vllm_from_the_hashed_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert '"serve", "--engine", "vllm"' in text
    assert "--require-hashes --no-deps --only-binary :all:" in text and "pip check" in text
    assert len(_stages("Dockerfile")) == 2


@pytest.mark.parametrize("name", DOCKERFILES)
def test_pip_check_follows_the_last_install(name: str) -> None:
    """A venv with a broken requirement fails the build, not the first request (issue 14)."""
    runs = [args for inst, args in _instructions(name) if inst == "RUN"]
    last = [args for args in runs if "pip install" in args or "install-into-vllm-image.sh" in args][
        -1
    ]
    if "install-into-vllm-image.sh" in last:
        # vLLM's image: the script compares `pip check` before and after (test_install_script).
        last = (ROOT / "scripts" / "install-into-vllm-image.sh").read_text()
        assert "-m pip check" in last and "exit 1" in last
        return
    assert "pip check" in last.rsplit("pip install", 1)[-1], last
