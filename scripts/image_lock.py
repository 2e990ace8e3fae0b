"""Writes requirements-image.lock: the GPU image's virtualenv, one wheel and its sha256 per package.

What goes into the image: ``vllm==<VLLM_VERSION>`` and vllm-deploy's runtime dependencies
(pyproject's ``dependencies``), for the image's interpreter and platform: CPython 3.12 (vLLM's
own image uses 3.12; Ubuntu 24.04, our base, ships it) on x86_64 with glibc 2.39 (Ubuntu
24.04). Two steps:

1. ``uv pip compile`` resolves the set for that target. uv evaluates environment markers for
   the target interpreter; pip evaluates them for the interpreter that runs it (3.11 here)
   whatever ``--python-version`` says, so pip would drop vLLM's ``setuptools<81`` and ``six``
   requirements, which only apply on Python > 3.11.
2. ``pip install --dry-run --no-deps --report`` picks, for each pin, the wheel pip will install
   in the image (same interpreter tags, same platform tags, wheels only) and its sha256 from
   the index: one hash per package, so the file names exactly what the image holds.

The Dockerfile installs the file with ``pip install --require-hashes --no-deps``; ``make
image-size`` installs it into a temporary directory and measures it; tests/packaging checks
it is a current resolution of vLLM and the runtime. Usage: ``python scripts/image_lock.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-image.lock"
PYTHON_VERSION = "3.12"
GLIBC_MINOR = 39  # Ubuntu 24.04, the base of the image's runtime stage
UV_PLATFORM = f"x86_64-manylinux_2_{GLIBC_MINOR}"
PIP_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MINOR, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]
# PyPI access as the user configured it (a mirror, a CA); not this machine's local wheels.
PIP_ENV = (
    "PIP_INDEX_URL",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT",
)
_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def vllm_version() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from vllm_deploy.vllm_cli import VLLM_VERSION

    return VLLM_VERSION


def image_requirements() -> list[str]:
    """What the image installs: vLLM and the runtime's own ranges (no extra)."""
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [f"vllm=={vllm_version()}", *runtime]


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in PIP_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def uv() -> str:
    found = Path(sys.executable).parent / "uv"
    return str(found) if found.exists() else "uv"


def resolve(requirements: list[str], workdir: Path) -> dict[str, str]:
    """name -> version of everything ``requirements`` installs in the image (uv, target markers)."""
    source, out = workdir / "requirements.in", workdir / "resolved.txt"
    source.write_text("\n".join(requirements) + "\n")
    cmd = [
        uv(),
        "pip",
        "compile",
        "--no-config",
        "--quiet",
        "--no-header",
        "--no-annotate",
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        UV_PLATFORM,
        "--only-binary",
        ":all:",
        str(source),
        "-o",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=pip_env())
    if proc.returncode != 0:
        raise RuntimeError(f"uv cannot resolve {requirements}:\n{proc.stderr[-3000:]}")
    return read_pins(out.read_text())


def read_pins(text: str) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a requirements or lock file."""
    return {canonical(m[1]): m[2] for line in text.splitlines() if (m := _LINE.match(line))}


def wheels(pins: dict[str, str], workdir: Path) -> list[tuple[str, str, str, str]]:
    """(name, version, wheel file name, sha256) of the wheel pip picks in the image, per pin."""
    source, report = workdir / "pins.txt", workdir / "report.json"
    source.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--no-deps",
        "--quiet",
        "--disable-pip-version-check",
        "--report",
        str(report),
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        *(f"--platform={p}" for p in PIP_PLATFORMS),
        "-r",
        str(source),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=pip_env())
    if proc.returncode != 0:
        raise RuntimeError(f"pip cannot find wheels for the pins:\n{proc.stderr[-3000:]}")
    rows = []
    for item in json.loads(report.read_text())["install"]:
        info = item["download_info"]
        sha = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if sha is None:
            raise RuntimeError(f"the index gives no sha256 for {info['url']}")
        meta = item["metadata"]
        rows.append((canonical(meta["name"]), meta["version"], info["url"].rsplit("/", 1)[-1], sha))
    return sorted(rows)


def render(rows: list[tuple[str, str, str, str]]) -> str:
    lines = [
        "# The GPU image's virtualenv: vLLM and vllm-deploy's runtime dependencies, one wheel per",
        f"# package, for CPython {PYTHON_VERSION} on x86_64 glibc 2.{GLIBC_MINOR} (Ubuntu 24.04).",
        "# Generated by scripts/image_lock.py from pyproject.toml; do not edit.",
        "# Install: pip install --require-hashes --no-deps --only-binary :all: "
        "-r requirements-image.lock",
    ]
    for name, version, filename, sha in rows:
        lines += [f"# {filename}", f"{name}=={version} \\", f"    --hash=sha256:{sha}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        pins = resolve(image_requirements(), Path(tmp))
        rows = wheels(pins, Path(tmp))
    missing = sorted(set(pins) - {r[0] for r in rows})
    if missing:
        print(f"error: no wheel found for {missing}", file=sys.stderr)
        return 1
    LOCK.write_text(render(rows))
    print(f"{LOCK.name}: {len(rows)} packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
