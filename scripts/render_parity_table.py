"""Writes docs/engines.md's parity table from the vendored vLLM API and the support table.

Usage: python scripts/render_parity_table.py  (run by `make generate`; a test holds it)
"""

from __future__ import annotations

import json
from pathlib import Path

from vllm_deploy.engines.protocol.support import render_parity_table

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "engines.md"
API = ROOT / "tests" / "data" / "vllm-0.33.0-openai-api.json"
START, END = "<!-- parity-table:start -->\n", "<!-- parity-table:end -->"


def rendered_doc() -> str:
    """docs/engines.md with the table between its markers rewritten."""
    api = json.loads(API.read_text())
    table = render_parity_table({name: model["fields"] for name, model in api["requests"].items()})
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + "\n" + table + "\n" + END + tail


def main() -> None:
    DOC.write_text(rendered_doc())
    print(f"wrote the parity table of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
