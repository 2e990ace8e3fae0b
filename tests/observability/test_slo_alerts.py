"""A spec's `slo:` renders burn-rate alerts with its own thresholds; promtool runs them.

Each objective gets series whose share of bad events is a chosen multiple of its error
budget ("burn rate"): 16 pages through the 1 h / 5 m pair, 8 through the 6 h / 30 m pair
only, 4 opens a ticket only (3 d / 6 h), 0.8 raises nothing (Google SRE Workbook, table 5-8).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from vllm_deploy.observability.slo import BURN_TIERS, SLO_ALERTS
from vllm_deploy.render import render
from vllm_deploy.spec import spec_from_mapping

SPEC = spec_from_mapping(
    {
        "name": "llama",
        "namespace": "llm",
        "model": {"name": "llama", "huggingface": "org/llama"},
        "slo": {"ttft_p95_s": 2.0, "itl_p95_s": 0.05, "error_ratio": 0.01},
    }
)
POD = 'job="vllm", namespace="llm", pod="vllm-llama-5d8c9b7f6-abcde"'
OTHER = 'job="vllm", namespace="llm", pod="vllm-llama-big-7f9c4d8b5-xyzwv"'  # another Deployment
PER_MINUTE = 300
BURNS = {
    16: {"VLLMSLOBudgetBurnFast", "VLLMSLOBudgetBurnSlow"},
    8: {"VLLMSLOBudgetBurnFast", "VLLMSLOBudgetBurnSlow"},
    4: {"VLLMSLOBudgetBurnSlow"},
    0.8: set(),
}


def _rules() -> dict[str, Any]:
    (rule,) = [
        o
        for objs in render(SPEC).values()
        for o in objs
        if o["metadata"]["name"] == "vllm-llama-slo"
    ]
    assert rule["kind"] == "PrometheusRule" and rule["metadata"]["namespace"] == "llm"
    spec: dict[str, Any] = rule["spec"]
    return spec


RULES = _rules()
ALERTS = [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]


def test_the_thresholds_are_the_specs() -> None:
    by = {(a["alert"], a["labels"]["slo"]): a["expr"] for a in ALERTS}
    assert set(by) == {(name, slo) for name in SLO_ALERTS for slo in ("ttft", "itl", "errors")}
    # errors: 1% budget -> 14.4%, 6% (page) and 1% (ticket)
    assert (
        "ratio_rate1h{" in by["VLLMSLOBudgetBurnFast", "errors"]
        and "> 0.144 " in by["VLLMSLOBudgetBurnFast", "errors"]
    )
    assert (
        "ratio_rate30m{" in by["VLLMSLOBudgetBurnFast", "errors"]
        and "> 0.06)" in by["VLLMSLOBudgetBurnFast", "errors"]
    )
    assert (
        "ratio_rate3d{" in by["VLLMSLOBudgetBurnSlow", "errors"]
        and "> 0.01 " in by["VLLMSLOBudgetBurnSlow", "errors"]
    )
    # latency: a p95 bound is a 5% budget -> 72%, 30% and 5% of events above the bound
    for slo in ("ttft", "itl"):
        assert (
            "> 0.72 " in by["VLLMSLOBudgetBurnFast", slo]
            and "> 0.05)" in by["VLLMSLOBudgetBurnSlow", slo]
        )
    records = {
        r["labels"]["slo"]: r["expr"] for g in RULES["groups"] for r in g["rules"] if "record" in r
    }
    assert (
        'le="2.5"' in records["ttft"] and 'le="1.0"' in records["ttft"]
    )  # 2 s lies inside (1, 2.5]
    assert 'le="0.05"' in records["itl"]
    assert [t.burn_rate for t in BURN_TIERS] == [14.4, 6.0, 1.0]
    assert "95% of requests get a first token within 2 s" in str(ALERTS)


def _series(slo: str, burn: float, minutes: int) -> dict[str, str]:
    """Counters whose bad share is ``burn`` x the objective's budget, for ``minutes``."""
    n = PER_MINUTE
    if slo == "errors":
        bad = round(burn * 0.01 * n)
        total = "vllm_deploy_requests_total"
        return {
            f'{total}{{{POD}, route="/v1/completions", code="200"}}': f"0+{n - bad}x{minutes}",
            f'{total}{{{POD}, route="/v1/completions", code="500"}}': f"0+{bad}x{minutes}",
            f'{total}{{{POD}, route="/health/ready", code="503"}}': f"0+{n}x{minutes}",
            f'{total}{{{OTHER}, route="/v1/completions", code="500"}}': f"0+{n}x{minutes}",
        }
    good = round((1 - burn * 0.05) * n)
    if slo == "itl":
        metric, bounds = "vllm:inter_token_latency_seconds", {"0.05": good}
    else:  # 2 s is 2/3 of the way from 1 s to 2.5 s: good = 1/3 le(1) + 2/3 le(2.5)
        upper = min(n, good * 3 // 2)
        metric, bounds = (
            "vllm:time_to_first_token_seconds",
            {"1.0": 3 * good - 2 * upper, "2.5": upper},
        )
    series = {
        f"{metric}_count{{{POD}}}": f"0+{n}x{minutes}",
        f"{metric}_count{{{OTHER}}}": f"0+{n}x{minutes}",
    }
    for le, per_minute in bounds.items():
        series[f'{metric}_bucket{{{POD}, le="{le}"}}'] = f"0+{per_minute}x{minutes}"
    return series  # the other Deployment's pod is all bad: its series must not count


def _expected(name: str, slo: str) -> dict[str, Any]:
    rule = next(a for a in ALERTS if a["alert"] == name and a["labels"]["slo"] == slo)
    labels = {**rule["labels"], "namespace": "llm", "deployment": "vllm-llama"}
    return {"exp_labels": labels, "exp_annotations": rule["annotations"]}


def _promtool(tests: list[dict[str, Any]], tmp_path: Path) -> None:
    rules = tmp_path / "slo-rules.yaml"
    rules.write_text(yaml.safe_dump(RULES))
    test_file = tmp_path / "slo.test.yaml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": tests})
    )
    out = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("slo", ["ttft", "itl", "errors"])
def test_each_burn_rate_raises_what_the_workbook_says(slo: str, tmp_path: Path) -> None:
    tests = []
    for burn, firing in BURNS.items():
        checks = [
            {
                "eval_time": "40m",
                "alertname": name,
                "exp_alerts": [_expected(name, slo)] if name in firing else [],
            }
            for name in SLO_ALERTS
        ]
        checks += [{"eval_time": "0m", "alertname": name, "exp_alerts": []} for name in SLO_ALERTS]
        tests.append(
            {
                "interval": "1m",
                "input_series": [
                    {"series": s, "values": v} for s, v in _series(slo, burn, 60).items()
                ],
                "alert_rule_test": checks,
            }
        )
    _promtool(tests, tmp_path)


def test_the_page_stops_soon_after_the_burn_does(tmp_path: Path) -> None:
    """60 minutes at burn 16, then none: the 1 h window still holds the burn, but the 5 m and
    30 m windows empty out, so the page resolves within about 20 minutes; the ticket stays."""
    series = _series("errors", 16, 60)
    bad = next(k for k in series if 'code="500"' in k and "abcde" in k)
    series[bad] = "0+48x60 2880+0x40"
    ok = next(k for k in series if 'code="200"' in k)
    series[ok] = "0+252x60 15120+300x40"
    checks = [
        {
            "eval_time": "61m",
            "alertname": "VLLMSLOBudgetBurnFast",
            "exp_alerts": [_expected("VLLMSLOBudgetBurnFast", "errors")],
        },
        {"eval_time": "85m", "alertname": "VLLMSLOBudgetBurnFast", "exp_alerts": []},
        {
            "eval_time": "85m",
            "alertname": "VLLMSLOBudgetBurnSlow",
            "exp_alerts": [_expected("VLLMSLOBudgetBurnSlow", "errors")],
        },
    ]
    _promtool(
        [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "alert_rule_test": checks,
            }
        ],
        tmp_path,
    )
