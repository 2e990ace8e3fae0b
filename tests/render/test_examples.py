"""The examples render into the committed deploy/examples/, deterministically and validly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vllm_deploy.render import write
from vllm_deploy.spec import load_spec
from vllm_deploy.validate import SUPPORTED_VERSIONS, validate_dir

ROOT = Path(__file__).parents[2]
EXAMPLES = ["dev", "kind", "local", "prod"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_committed_output_is_current(name: str, tmp_path: Path) -> None:
    write(load_spec(ROOT / "examples" / f"{name}.yaml"), tmp_path)
    committed = ROOT / "deploy" / "examples" / name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in committed.iterdir())
    for path in tmp_path.iterdir():
        assert path.read_text() == (committed / path.name).read_text(), (
            f"{committed / path.name} is stale: run `make generate`"
        )


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_pass_every_schema_and_policy(name: str) -> None:
    assert len(SUPPORTED_VERSIONS) == 8
    assert validate_dir(ROOT / "deploy" / "examples" / name) == []


def test_render_and_validate_commands(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "vllm_deploy"]
    rendered = subprocess.run(
        [*cli, "render", "-f", str(ROOT / "examples" / "prod.yaml"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr
    checked = subprocess.run(
        [*cli, "validate", str(out)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0 and "valid" in checked.stdout
    (out / "deployment.yaml").write_text(
        (out / "deployment.yaml")
        .read_text()
        .replace("minReadySeconds: 30", "minReadySeconds: 30\n  surprise: 1")
    )
    broken = subprocess.run(
        [*cli, "validate", str(out)], capture_output=True, text=True, timeout=120
    )
    assert broken.returncode == 1
    assert (
        "[schema] Deployment/vllm-llama-8b spec: Kubernetes 1.30.0" in broken.stderr
        and "surprise" in broken.stderr
    )
