"""Writes docs/deploy.md's cold-start table per cache kind from the simulator's timeline.

Usage: python scripts/render_cold_start_table.py  (run by `make generate`; a test holds it)
"""

from __future__ import annotations

from pathlib import Path

from vllm_deploy.sim.cold_start import render_table
from vllm_deploy.sim.profile import load_profile
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "deploy.md"
SPEC, PROFILE = ROOT / "examples" / "prod.yaml", "llama-3.1-8b-h100"
START, END = "<!-- cold-start-table:start -->\n", "<!-- cold-start-table:end -->"


def table() -> str:
    return render_table(load_spec(SPEC), load_profile(PROFILE))


def rendered_doc() -> str:
    """docs/deploy.md with the table between its markers rewritten."""
    head, rest = DOC.read_text().split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + "\n" + table() + "\n\n" + END + tail


def main() -> None:
    DOC.write_text(rendered_doc())
    print(f"wrote the cold-start table of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
