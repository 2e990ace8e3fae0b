"""`make image-size`, offline: sizes per distribution from RECORD, the trim counted apart, the
verdict against the 5 GB budget (scripts/image_size.py; the install itself needs PyPI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parents[2]


def _image_size() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_size", ROOT / "scripts" / "image_size.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("image_size", module)
    spec.loader.exec_module(module)
    return module


SIZE = _image_size()


def _dist(target: Path, name: str, files: dict[str, int]) -> None:
    info = target / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    for path, size in files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(b"x" * size)
    record = [f"{path},sha256=x,{size}" for path, size in files.items()]
    (info / "RECORD").write_text("\n".join([*record, f"{info.name}/RECORD,,"]) + "\n")


def test_sizes_per_distribution_and_the_trim(tmp_path: Path) -> None:
    _dist(tmp_path, "torch", {"torch/lib/libtorch.so": 3000, "torch/lib/libx.a": 1000})
    _dist(tmp_path, "tiny_pkg", {"tiny_pkg/__init__.py": 10, "tiny_pkg/tests/test_a.py": 5})
    sizes = SIZE.per_package(tmp_path)
    record = (tmp_path / "torch-1.0.dist-info" / "RECORD").stat().st_size
    assert sizes["torch"] == 4000 + record  # RECORD lists itself
    assert set(sizes) == {"torch", "tiny-pkg"}  # canonical names
    total = SIZE.tree_bytes(tmp_path)
    assert SIZE.trim(tmp_path) == 1005  # the static archive and the test suite
    assert SIZE.tree_bytes(tmp_path) == total - 1005


def test_the_report_gives_the_verdict_against_the_budget() -> None:
    gb = 10**9
    sizes = {"torch": 6 * gb, "vllm": 1 * gb, "six": 10**5}
    over = SIZE.report(sizes, 7 * gb + 10**5, gb // 2, 0, 4 * gb)
    assert "| torch | 6.00 | 86% |" in over and "| 1 other packages | 0.00 | 0% |" in over
    assert "| **venv in the image** | **6.50** | |" in over
    assert "**6.50** | over the 5 GB budget" in over
    assert "| 4.00 | within the budget with the base |" in over
    under = SIZE.report({"vllm": 2 * gb}, 2 * gb, 0, gb, None)
    assert "**3.00** | within the 5 GB budget" in under and "gzip" not in under
