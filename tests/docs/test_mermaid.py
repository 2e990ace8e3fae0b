"""Every Mermaid diagram in README.md and docs/ renders with mermaid-cli, so a broken one fails.

mermaid-cli (pinned in tools/mermaid/) runs Mermaid's own parser and layout in Debian's
chromium; `make test` installs both and passes its path in ``MMDC``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PUPPETEER_CONFIG = ROOT / "tools" / "mermaid" / "puppeteer.json"
_BLOCK = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _diagrams() -> list[tuple[str, str]]:
    """(where, source) of every ```mermaid block, e.g. ("docs/architecture.md#2", ...)."""
    found = []
    for doc in _documents():
        for i, match in enumerate(_BLOCK.finditer(doc.read_text()), start=1):
            found.append((f"{doc.relative_to(ROOT)}#{i}", match.group(1)))
    return found


def _mmdc() -> Path:
    # A relative MMDC is the repository's (make passes one); tests may run elsewhere.
    mmdc = ROOT / os.environ.get("MMDC", "tools/mermaid/node_modules/.bin/mmdc")
    if not mmdc.exists():
        pytest.fail("mermaid-cli is not installed: run `make mermaid` (make test does)")
    return mmdc


def _render(markdown: str, work: Path) -> subprocess.CompletedProcess[str]:
    """mmdc on a Markdown file renders each of its diagrams in one browser session."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / "diagrams.md"
    source.write_text(markdown)
    command = [str(_mmdc()), "--quiet", "-p", str(PUPPETEER_CONFIG)]
    command += ["-i", str(source), "-o", str(work / "rendered.md")]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=work)


def _as_markdown(diagrams: list[tuple[str, str]]) -> str:
    return "".join(f"## {where}\n\n```mermaid\n{source}```\n\n" for where, source in diagrams)


def test_the_architecture_diagrams_are_there() -> None:
    where = {w.split("#")[0] for w, _ in _diagrams()}
    kinds = {s.split()[0] for _, s in _diagrams()}
    assert {"README.md", "docs/architecture.md"} <= where
    assert {"flowchart", "sequenceDiagram"} <= kinds


def test_every_diagram_renders(tmp_path: Path) -> None:
    diagrams = _diagrams()
    result = _render(_as_markdown(diagrams), tmp_path / "all")
    if result.returncode == 0:
        assert len(list((tmp_path / "all").glob("rendered-*.svg"))) == len(diagrams)
        return
    # Something failed: render each alone, to name the broken ones.
    broken = []
    for n, (where, source) in enumerate(diagrams):
        alone = _render(_as_markdown([(where, source)]), tmp_path / str(n))
        if alone.returncode != 0:
            broken.append(f"{where}: {_parse_error(alone.stderr)}")
    pytest.fail("diagrams Mermaid refuses:\n" + "\n".join(broken or [result.stderr[-2000:]]))


def _parse_error(stderr: str) -> str:
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if "Error" in line), 0)
    return "\n".join(lines[start : start + 4])


BROKEN = {
    "unclosed node label": "flowchart LR\n    client[client --> ingress[ingress]\n",
    "alt without end": "sequenceDiagram\n    participant K\n    alt ready\n        K->>K: probe\n",
}


@pytest.mark.parametrize("source", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_diagram_is_refused(source: str, tmp_path: Path) -> None:
    result = _render(_as_markdown([("broken", source)]), tmp_path)
    assert result.returncode != 0
    assert "Parse error" in result.stderr or "Error" in result.stderr, result.stderr
