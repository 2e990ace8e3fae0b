"""Installs requirements-image.lock into a temporary directory and reports its size
(`make image-size`).

The install is the GPU image's: the same wheels (``--require-hashes --no-deps``), for the
image's interpreter and platform (scripts/image_lock.py), unpacked with ``--no-compile`` as
the Dockerfile does, so no ``.pyc`` is counted. Sizes are apparent file sizes (what a layer
tarball holds), per installed distribution from its ``RECORD``, largest first, with the
files the Dockerfile's trim step removes (scripts/trim-venv.sh) counted separately. The
image's other layers (the base image and Python) are added from IMAGE_BASE_MB, measured
separately (docs/image.md says how).

Usage: ``python scripts/image_size.py [--keep DIR] [--json FILE]``. Needs PyPI and about
20 GB of free disk for the download cache and the install.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_lock import LOCK, PIP_PLATFORMS, PYTHON_VERSION, canonical, pip_env, read_pins

BUDGET_BYTES = 5 * 10**9  # the seed's 5 GB image budget
TRIM = Path(__file__).resolve().parent / "trim-venv.sh"


def install(target: Path, cache: Path) -> float:
    """Unpacks every locked wheel into ``target`` as the image's builder does; returns seconds."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "--no-compile",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        *(f"--platform={p}" for p in PIP_PLATFORMS),
        "--cache-dir",
        str(cache),
        "-r",
        str(LOCK),
    ]
    start = time.monotonic()
    subprocess.run(cmd, check=True, env=pip_env(), timeout=7200)
    return time.monotonic() - start


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() and not path.is_symlink() else 0


def per_package(target: Path) -> dict[str, int]:
    """Installed bytes per distribution, from each ``*.dist-info/RECORD``."""
    sizes: dict[str, int] = {}
    for info in target.glob("*.dist-info"):
        name = canonical(info.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        with (info / "RECORD").open(newline="") as record:
            files = {target / row[0] for row in csv.reader(record) if row}
        sizes[name] = sum(_size(p) for p in files)
    return sizes


def tree_bytes(target: Path) -> int:
    return sum(_size(p) for p in target.rglob("*"))


def trim(target: Path) -> int:
    """Runs the Dockerfile's trim step on ``target``; returns the bytes it removed."""
    before = tree_bytes(target)
    subprocess.run(["bash", str(TRIM), str(target)], check=True)
    return before - tree_bytes(target)


def gzip_bytes(target: Path) -> int:
    """Size of the directory as one gzip-compressed tar layer (what docker push sends)."""
    pipeline = f"tar -C {shlex.quote(str(target))} -cf - . | gzip -6 | wc -c"
    return int(
        subprocess.run(pipeline, shell=True, check=True, capture_output=True, text=True).stdout
    )


def _gb(n: int) -> str:
    return f"{n / 10**9:.2f}"


def report(sizes: dict[str, int], total: int, trimmed: int, base: int, packed: int | None) -> str:
    rows = sorted(sizes.items(), key=lambda kv: -kv[1])
    lines = ["| package | installed (GB) | share |", "|---|---:|---:|"]
    shown = [r for r in rows if r[1] >= 50 * 10**6]
    for name, size in shown:
        lines.append(f"| {name} | {_gb(size)} | {size / total:.0%} |")
    rest = sum(s for _, s in rows[len(shown) :])
    lines.append(f"| {len(rows) - len(shown)} other packages | {_gb(rest)} | {rest / total:.0%} |")
    lines.append(f"| **venv as installed** ({len(rows)} packages) | **{_gb(total)}** | |")
    lines.append(f"| removed by scripts/trim-venv.sh | -{_gb(trimmed)} | |")
    lines.append(f"| **venv in the image** | **{_gb(total - trimmed)}** | |")
    lines.append(f"| base image + Python (`--base-mb`) | {_gb(base)} | |")
    image = total - trimmed + base
    verdict = "within" if image <= BUDGET_BYTES else "over"
    lines.append(f"| **image, uncompressed** | **{_gb(image)}** | {verdict} the 5 GB budget |")
    if packed is not None:
        verdict = "within" if packed + base <= BUDGET_BYTES else "over"
        lines.append(
            f"| venv layer, gzip -6 (pushed, pulled) | {_gb(packed)} "
            f"| {verdict} the budget with the base |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="install here and keep it (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--base-mb", type=float, default=0.0, help="size of the base layers (MB)")
    parser.add_argument("--gzip", action="store_true", help="also measure the compressed layer")
    args = parser.parse_args()
    pins = read_pins(LOCK.read_text())
    work = Path(tempfile.mkdtemp(prefix="image-size-"))
    target = args.keep or work / "venv"
    try:
        seconds = install(target, work / "cache")
        sizes = per_package(target)
        missing = sorted(set(pins) - set(sizes))
        if missing:
            print(f"error: installed no RECORD for {missing}", file=sys.stderr)
            return 1
        total = tree_bytes(target)
        trimmed = trim(target)
        packed = gzip_bytes(target) if args.gzip else None
        base = int(args.base_mb * 10**6)
        print(f"installed {len(sizes)} packages from {LOCK.name} in {seconds:.0f} s\n")
        print(report(sizes, total, trimmed, base, packed))
        if args.json:
            figures = {
                "packages": sizes,
                "total": total,
                "trimmed": trimmed,
                "base": base,
                "gzip": packed,
                "budget": BUDGET_BYTES,
            }
            args.json.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
