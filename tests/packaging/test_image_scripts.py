"""The GPU image's build scripts, offline: the venv trim and the prebuilt Triton module."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parents[2] / "scripts"


def _touch(root: Path, *paths: str) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")


def test_trim_removes_only_what_nothing_loads(tmp_path: Path) -> None:
    gone = [
        "torch/lib/libfoo.a",
        "numpy/tests/test_x.py",
        "nvidia/cu13/bin/nvcc",
        "nvidia/cu13/bin/cudafe++",
        "nvidia/cu13/nvvm/bin/cicc",
        "nvidia_cutlass_dsl/cu12/lib/libcute_dsl_runtime.so",
        "nvidia_cutlass_dsl/dsl_packages/cutlass/_mlir/_mlir_libs/_cutlass_ir.cu12.cpython-312-x86_64-linux-gnu.so",
    ]
    kept = [
        "torch/lib/libtorch_cuda.so",
        "torch/include/ATen/ATen.h",
        "torch/testing/__init__.py",
        "triton/backends/amd/compiler.py",  # an entry point: `import triton` imports it
        "triton/backends/nvidia/bin/ptxas",
        "nvidia/cu13/bin/ptxas",
        "nvidia/cu13/nvvm/lib64/libnvvm.so.4",
        "nvidia_cutlass_dsl/cu13/lib/libcute_dsl_runtime.so",
        "nvidia_cutlass_dsl/dsl_packages/cutlass/_mlir/_mlir_libs/_cutlass_ir.cu13.cpython-312-x86_64-linux-gnu.so",
    ]
    _touch(tmp_path, *gone, *kept)
    subprocess.run(["bash", SCRIPTS / "trim-venv.sh", tmp_path], check=True)
    assert [p for p in gone if (tmp_path / p).exists()] == []
    assert [p for p in kept if not (tmp_path / p).exists()] == []


def test_trim_refuses_a_missing_directory(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", SCRIPTS / "trim-venv.sh", tmp_path / "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "usage:" in proc.stderr


@pytest.mark.skipif(
    not Path(sysconfig.get_paths()["include"], "Python.h").exists(), reason="no Python.h"
)
def test_the_prebuilt_module_is_handed_out_for_its_source_only(tmp_path: Path) -> None:
    site, out = tmp_path / "site", tmp_path / "out"
    driver = site / "triton" / "backends" / "nvidia" / "driver.c"
    driver.parent.mkdir(parents=True)
    (driver.parent / "include").mkdir()
    # Like Triton's driver.c: includes Python.h and calls the CUDA driver.
    driver.write_text(
        "#include <Python.h>\nint cuDriverGetVersion(int *);\n"
        "int version(void) { int v = 0; cuDriverGetVersion(&v); return v; }\n"
    )
    subprocess.run(
        ["bash", SCRIPTS / "prebuild-triton.sh", site, sys.executable, out],
        check=True,
        capture_output=True,
    )
    needed = subprocess.run(
        ["readelf", "-d", *out.glob("prebuilt/*.so")], capture_output=True, text=True
    ).stdout
    assert "libcuda.so.1" in needed  # linked to the driver the node mounts
    cc = out / "bin" / "triton-prebuilt-cc"
    built = tmp_path / "cuda_utils.so"
    # Triton's own command line (triton/runtime/build.py).
    ok = subprocess.run(
        [cc, driver, "-O3", "-shared", "-fPIC", "-Wno-psabi", "-o", built, "-lcuda"]
    )
    assert ok.returncode == 0 and built.read_bytes() == next(out.glob("prebuilt/*.so")).read_bytes()
    other = tmp_path / "other.c"
    other.write_text("int x;\n")
    refused = subprocess.run([cc, other, "-o", tmp_path / "x.so"], capture_output=True, text=True)
    assert (
        refused.returncode == 1
        and "has no C compiler" in refused.stderr
        and str(other) in refused.stderr
    )
