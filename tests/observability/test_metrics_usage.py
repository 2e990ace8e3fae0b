"""docs/metrics.md says which alerts and dashboards read each metric, and lists every one."""

from __future__ import annotations

from pathlib import Path

from vllm_deploy.observability import ObservabilityConfig
from vllm_deploy.observability.usage import metric_usage

DOC = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()


def _doc_used_by() -> dict[str, set[str]]:
    rows = {}
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 7:
            used = set() if cells[6] == "-" else {u.strip() for u in cells[6].split(",")}
            rows[cells[0].strip("`")] = used
    return rows


def test_used_by_column_matches_rules_and_dashboards() -> None:
    doc = _doc_used_by()
    usage = metric_usage(ObservabilityConfig())
    missing = set(usage) - set(doc)
    assert not missing, f"metrics read by rules or dashboards but not in docs/metrics.md: {missing}"
    for name, used in doc.items():
        expected = {u.removeprefix("dashboard ") for u in usage.get(name, set())}
        assert used == expected, name
