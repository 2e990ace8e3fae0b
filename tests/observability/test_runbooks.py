"""Every alert has a runbook of the same shape; runbooks only name real vllm-deploy commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command

from vllm_deploy.cli import app
from vllm_deploy.observability import ObservabilityConfig, alerts
from vllm_deploy.observability.slo import SLO_ALERTS

DOCS = Path(__file__).parents[2] / "docs"
RUNBOOKS = DOCS / "runbooks"
# Alert name -> (severity, for): the cluster-wide alerts and each spec's SLO alerts.
ALERTS = {a.name: (a.severity, a.for_) for a in alerts(ObservabilityConfig())} | {
    name: (severity, "0s") for name, severity in SLO_ALERTS.items()
}
HEADINGS = ["## Meaning", "## Impact", "## Diagnosis", "## Mitigation"]
COMMANDS = get_command(app).commands  # type: ignore[attr-defined]


def test_every_alert_has_a_runbook_and_every_runbook_an_alert() -> None:
    pages = {p.stem for p in RUNBOOKS.glob("*.md")}
    assert set(ALERTS) - pages == set(), "alerts without a runbook"
    assert pages - set(ALERTS) == set(), "runbooks without an alert"


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_runbook_shape(name: str) -> None:
    text = (RUNBOOKS / f"{name}.md").read_text()
    assert text.startswith(f"# {name}\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == HEADINGS
    assert f"Severity: {ALERTS[name][0]}" in text
    for section in text.split("## ")[3:]:  # Diagnosis, Mitigation: commands ready to paste
        assert "```" in section, f"{name}: a section without commands"


def _code(text: str) -> list[str]:
    """Fenced code block lines and inline code spans: where commands are written to be run."""
    code, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            code.append(line)
        else:
            code += re.findall(r"`([^`]+)`", line)
    return code


def _command_uses() -> list[tuple[str, str, list[str]]]:
    uses = []
    for page in [
        *RUNBOOKS.glob("*.md"),
        DOCS / "operations.md",
        DOCS / "runtime.md",
        DOCS / "engines.md",
    ]:
        for snippet in _code(page.read_text()):
            for match in re.finditer(r"vllm-deploy\s+([a-z][\w-]*)([^|;&\n]*)", snippet):
                ours = match.group(2).split(" -- ")[0]  # after `--`, arguments belong to vLLM
                flags = re.findall(r"(?<![\w-])(--[a-z][\w-]*)", ours)
                uses.append((page.name, match.group(1), flags))
    return uses


def test_pages_name_only_real_subcommands_and_flags() -> None:
    uses = _command_uses()
    assert uses, "no vllm-deploy command found in the docs"
    for page, sub, flags in uses:
        assert sub in COMMANDS, f"{page}: `vllm-deploy {sub}` does not exist"
        known = {opt for p in COMMANDS[sub].params for opt in (*p.opts, *p.secondary_opts)}
        for flag in flags:
            assert flag in known or flag == "--help", (
                f"{page}: `vllm-deploy {sub} {flag}` does not exist"
            )


def test_observability_doc_lists_every_alert() -> None:
    text = (DOCS / "observability.md").read_text()
    for name, (severity, for_) in ALERTS.items():
        assert f"| [{name}](runbooks/{name}.md) | {severity} | {for_} |" in text
