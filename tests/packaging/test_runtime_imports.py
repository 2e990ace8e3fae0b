"""The pod runs with the runtime's own dependencies only, and the layers stay apart.

The serving image has vLLM plus vllm-deploy installed without extras (pyproject's
`dependencies`). These tests run the pod's commands with exactly those distributions on the
path (`python -S`, no site-packages): an import of anything else fails them, as it would
fail the pod at start.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from vllm_deploy.harness import free_port

ROOT = Path(__file__).parents[2]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements pull in, transitively (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = _canonical(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(req.name) or []]
    return seen


@pytest.fixture(scope="module")
def runtime_only(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose path holds the stdlib, vllm_deploy and the runtime's dependencies."""
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    path = tmp_path_factory.mktemp("runtime-only")
    for name in sorted(_closure(core)):
        dist = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (path / top).exists():
                (path / top).symlink_to(source)
    (path / "vllm_deploy").symlink_to(ROOT / "src" / "vllm_deploy")
    return {"PYTHONPATH": str(path), "PATH": os.environ["PATH"], "HOME": str(path)}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_middleware_loads_with_the_runtime_dependencies_only(
    runtime_only: dict[str, str],
) -> None:
    script = (
        "from vllm_deploy.runtime import ProductionMiddleware\n"
        "async def app(scope, receive, send): pass\n"
        "ProductionMiddleware(app)\n"
        "import sys; print(sorted(m for m in sys.modules if m.startswith('vllm_deploy')))\n"
    )
    proc = _run(runtime_only, "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert "vllm_deploy.engines" not in proc.stdout


def test_the_vllm_launcher_runs_with_the_runtime_dependencies_only(
    runtime_only: dict[str, str],
) -> None:
    proc = _run(runtime_only, "-m", "vllm_deploy", "serve", "--engine", "vllm", "--model", "m")
    assert proc.returncode == 1
    assert "not importable" in proc.stderr and "Traceback" not in proc.stderr


def test_the_prestop_drain_runs_with_the_runtime_dependencies_only(
    runtime_only: dict[str, str],
) -> None:
    proc = _run(runtime_only, "-m", "vllm_deploy", "drain", "--port", str(free_port()))
    assert proc.returncode == 1
    assert "drain request" in proc.stderr and "Traceback" not in proc.stderr


def test_commands_outside_the_runtime_name_the_extra_they_need(
    runtime_only: dict[str, str], tmp_path: Path
) -> None:
    proc = _run(runtime_only, "-m", "vllm_deploy", "validate", str(tmp_path))
    assert proc.returncode == 1
    assert "pip install 'vllm-deploy[ops]'" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run(runtime_only, "-m", "vllm_deploy", "serve", "--engine", "simulated", "--model", "m")
    assert proc.returncode == 1
    assert "pip install 'vllm-deploy[engines]'" in proc.stderr and "Traceback" not in proc.stderr


def _imported_after(modules: list[str]) -> set[str]:
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout))


def _ours(loaded: set[str], package: str) -> set[str]:
    return {m for m in loaded if m == package or m.startswith(package + ".")}


def test_the_runtime_does_not_load_the_engines() -> None:
    """What vLLM imports with ``--middleware``, and the pod's commands, load no engine server."""
    loaded = _imported_after(["vllm_deploy.runtime"])
    assert "vllm_deploy.runtime.middleware" in loaded
    assert not _ours(loaded, "vllm_deploy.engines")
    assert not {"fastapi", "uvicorn", "torch"} & loaded
    loaded = _imported_after(["vllm_deploy.runtime", "vllm_deploy.server", "vllm_deploy.cli"])
    assert not _ours(loaded, "vllm_deploy.engines")


def test_the_engines_do_not_load_the_runtime() -> None:
    engines = [
        "vllm_deploy.engines",
        "vllm_deploy.engines.simulated",
        "vllm_deploy.engines.reference",
    ]
    loaded = _imported_after(engines)
    assert "vllm_deploy.engines.simulated.admin" in loaded
    assert not _ours(loaded, "vllm_deploy.runtime")


def test_validating_manifests_loads_no_web_framework_or_tracing_sdk() -> None:
    loaded = _imported_after(["vllm_deploy.validate"])
    assert "vllm_deploy.validate.policies" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("fastapi", "starlette", "uvicorn")}
    assert not _ours(loaded, "opentelemetry.sdk")
    assert not _ours(loaded, "vllm_deploy.engines") | _ours(loaded, "vllm_deploy.runtime")
    loaded = _imported_after(["vllm_deploy.validate", "vllm_deploy.render"])
    assert not _ours(loaded, "fastapi") | _ours(loaded, "opentelemetry.sdk")


def test_the_validate_command_loads_no_web_framework_or_tracing_sdk() -> None:
    """`vllm-deploy validate` as users run it: the CLI, then the command over real manifests."""
    script = (
        "import json, sys\n"
        "from vllm_deploy.cli import app\n"
        "try:\n"
        f"    app(['validate', {str(ROOT / 'deploy' / 'examples' / 'dev')!r}])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.splitlines()[0].endswith(": valid")
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert "vllm_deploy.validate.policies" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("fastapi", "starlette", "uvicorn")}
    assert not _ours(loaded, "opentelemetry.sdk") | _ours(loaded, "vllm_deploy.engines")
