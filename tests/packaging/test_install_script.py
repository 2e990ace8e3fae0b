"""scripts/install-into-vllm-image.sh: installs, and fails when vLLM's packages would move.

Offline: a fresh virtual environment stands in for vLLM's, with small wheels built here
(a "fakevllm" pinning "fakelib"), installed with pip from a local directory only.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "install-into-vllm-image.sh"


def _wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel: one empty module and its metadata."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": "",
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheels")
    _wheel(directory, "fakelib", "2.0")
    _wheel(directory, "fakelib", "3.0")
    _wheel(directory, "fakevllm", "1.0", ("fakelib==2.0",))
    _wheel(directory, "vllm-deploy", "9.0", ("fakelib>=1",))  # ranges containing vLLM's
    return directory


def _environment(path: Path, wheels: Path) -> Path:
    """A fresh environment with fakevllm (and so fakelib 2.0) installed, like vLLM's image."""
    venv.create(path, with_pip=True)
    python = path / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, "fakevllm"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return python


def _install(python: Path, source: Path, wheels: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", SCRIPT, python, source, "--no-index", "--find-links", wheels],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(300)
def test_an_install_that_fits_vllms_pins_succeeds(tmp_path: Path, wheels: Path) -> None:
    python = _environment(tmp_path / "env", wheels)
    proc = _install(python, wheels / "vllm_deploy-9.0-py3-none-any.whl", wheels)
    assert proc.returncode == 0, proc.stderr
    assert "no other package changed" in proc.stdout
    freeze = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    )
    assert {"fakelib==2.0", "fakevllm==1.0", "vllm-deploy==9.0"} <= set(freeze.stdout.split())


@pytest.mark.timeout(300)
def test_an_install_that_moves_a_pinned_package_fails_naming_it(
    tmp_path: Path, wheels: Path
) -> None:
    python = _environment(tmp_path / "env", wheels)
    moving = _wheel(tmp_path, "vllm-deploy", "9.1", ("fakelib>=3",))
    proc = _install(python, moving, wheels)
    assert proc.returncode == 1
    assert "-fakelib==2.0" in proc.stderr and "+fakelib==3.0" in proc.stderr
    assert "changed the environment's packages" in proc.stderr
    # pip check's complaint (fakevllm needs fakelib==2.0) is not the first error reported.
    assert "error: pip check" not in proc.stderr


def test_it_refuses_to_run_without_its_arguments() -> None:
    proc = subprocess.run(["bash", SCRIPT, sys.executable], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage:" in proc.stderr
