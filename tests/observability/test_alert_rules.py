"""promtool on the generated rules: the file checks, and every alert fires at its `for:`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.alert_fixtures import FIXTURES
from vllm_deploy.observability import ObservabilityConfig, alerts

RULES = Path(__file__).parents[2] / "deploy" / "observability" / "prometheus-rules.yaml"
ALERTS = {a.name: a for a in alerts(ObservabilityConfig())}


def _minutes(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, duration
    value = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    assert value % 60 == 0, "for: must be whole minutes for these tests"
    return value // 60


def _render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)


def _tests(name: str) -> dict[str, Any]:
    fixture, alert = FIXTURES[name], ALERTS[name]
    fires_at = fixture.true_from_m + _minutes(alert.for_)
    labels = {"severity": alert.severity, **fixture.labels}
    annotations = alert.rule(ObservabilityConfig().runbook_base_url)["annotations"]
    expected = {
        "exp_labels": labels,
        "exp_annotations": {k: _render(v, fixture.labels) for k, v in annotations.items()},
    }
    expr_checks = [
        {
            "expr": f"count({alert.expr})",
            "eval_time": f"{fixture.true_from_m}m",
            "exp_samples": [{"labels": "{}", "value": 1}],
        }
    ]
    if fixture.true_from_m > 0:
        expr_checks.append(
            {
                "expr": f"count({alert.expr})",
                "eval_time": f"{fixture.true_from_m - 1}m",
                "exp_samples": [],
            }
        )
    alert_checks = [{"eval_time": f"{fires_at}m", "alertname": name, "exp_alerts": [expected]}]
    if fires_at > 0:
        alert_checks.append({"eval_time": f"{fires_at - 1}m", "alertname": name, "exp_alerts": []})
    assert fires_at < fixture.minutes, "the fixture's series must outlast the alert"
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in fixture.series.items()],
        "promql_expr_test": expr_checks,
        "alert_rule_test": alert_checks,
    }


def test_rules_file_passes_promtool_check() -> None:
    out = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_fixture_and_the_same_shape() -> None:
    assert set(FIXTURES) == set(ALERTS)
    for alert in ALERTS.values():
        rule = alert.rule("https://runbooks")
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"] == f"https://runbooks/{alert.name}.md"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_alert_fires_at_its_for_and_not_before(name: str, tmp_path: Path) -> None:
    test_file = tmp_path / f"{name}.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(RULES)],
                "evaluation_interval": "1m",
                "tests": [_tests(name)],
            },
            sort_keys=False,
        )
    )
    out = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
