"""The canary gate as an Argo Rollouts AnalysisTemplate: valid against Argo's CRD schema, the
same PromQL as the gate, and queries that select the right pods and compute what the
conditions expect (evaluated by promtool over series of a canary, a stable and an unrelated
ReplicaSet's pods)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from vllm_deploy.cli import app
from vllm_deploy.kube.analysis import AnalysisOptions, analysis_template
from vllm_deploy.kube.prom import slo_queries
from vllm_deploy.spec import load_spec
from vllm_deploy.validate.schemas import validate_schema

ROOT = Path(__file__).parents[2]
SPEC = load_spec(ROOT / "examples" / "prod.yaml")
OPTIONS = AnalysisOptions("http://prometheus:9090", interval_s=60, steps=5, min_requests=10)
CANARY, STABLE, OTHER = "c4n4r7", "s74b1e", "0ld0ld"


def _metrics(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in template["spec"]["metrics"]}


def test_the_template_is_valid_against_argo_rollouts_crd_schema() -> None:
    template = analysis_template(SPEC, OPTIONS)
    assert validate_schema(template) == []
    broken = analysis_template(SPEC, OPTIONS)
    broken["spec"]["metrics"][0]["provider"]["prometheus"]["querry"] = "up"
    assert [p.check for p in validate_schema(broken)] == ["crd-schema"]


def test_every_metric_is_measured_steps_times_an_interval_apart() -> None:
    metrics = _metrics(analysis_template(SPEC, OPTIONS))
    assert list(metrics) == [
        "canary-requests",
        "canary-error-ratio",
        "canary-ttft-p95",
        "canary-itl-p95",
        "canary-ttft-p95-ratio",
    ]
    for metric in metrics.values():
        assert (metric["interval"], metric["count"]) == ("60s", 5)
        assert metric["provider"]["prometheus"]["address"] == "http://prometheus:9090"
    # Too few requests fails a measurement; the analysis fails only when every interval had
    # too few, as the gate aborts after as many empty intervals as steps.
    assert "failureCondition" not in metrics["canary-requests"]
    assert metrics["canary-requests"]["failureLimit"] == 4
    for name in ("canary-error-ratio", "canary-ttft-p95", "canary-itl-p95"):
        assert (metrics[name]["failureLimit"], metrics[name]["inconclusiveLimit"]) == (0, 5)


def test_the_bounds_are_the_specs_slo_and_the_gates_options() -> None:
    metrics = _metrics(analysis_template(SPEC, OPTIONS))
    slo = SPEC.slo
    bounds = {
        "canary-error-ratio": 0.0,
        "canary-ttft-p95": slo.ttft_p95_s,
        "canary-itl-p95": slo.itl_p95_s,
        "canary-ttft-p95-ratio": OPTIONS.max_ttft_ratio,
    }
    for name, bound in bounds.items():
        assert metrics[name]["successCondition"] == f"len(result) == 1 && result[0] <= {bound!r}"
        assert metrics[name]["failureCondition"] == f"len(result) == 1 && result[0] > {bound!r}"
    assert metrics["canary-requests"]["successCondition"] == "len(result) == 1 && result[0] >= 10"
    error_query = metrics["canary-error-ratio"]["provider"]["prometheus"]["query"]
    assert error_query.endswith(f", {slo.error_ratio!r})")


def test_the_queries_are_the_gates_for_the_rollouts_pods() -> None:
    metrics = _metrics(analysis_template(SPEC, OPTIONS))
    pods = 'namespace="llm",pod=~"vllm-llama-8b-{{args.canary-hash}}-.*"'
    gate = slo_queries(pods, "60s")
    assert metrics["canary-ttft-p95"]["provider"]["prometheus"]["query"] == gate["ttft_p95_s"]
    assert metrics["canary-itl-p95"]["provider"]["prometheus"]["query"] == gate["itl_p95_s"]
    assert metrics["canary-requests"]["provider"]["prometheus"]["query"] == gate["requests"]
    named = analysis_template(SPEC, AnalysisOptions("http://p:9090", rollout="llama"))
    query = _metrics(named)["canary-ttft-p95"]["provider"]["prometheus"]["query"]
    assert 'pod=~"llama-{{args.canary-hash}}-.*"' in query


def _pod(rs: str, suffix: str) -> str:
    return f'namespace="llm", pod="vllm-llama-8b-{rs}-{suffix}"'


def _histogram(metric: str, pod: str, per_step: dict[str, int]) -> dict[str, str]:
    """Cumulative buckets that grow by ``per_step[le]`` every 15 s."""
    return {f'{metric}_bucket{{{pod}, le="{le}"}}': f"0+{n}x40" for le, n in per_step.items()}


def _series() -> dict[str, str]:
    series: dict[str, str] = {}
    route = 'route="/v1/chat/completions"'
    for rs, ok, failed in ((CANARY, 3, 1), (STABLE, 6, 0), (OTHER, 0, 9)):
        pod = _pod(rs, "x1y2z")
        series[f'vllm_deploy_requests_total{{{pod}, {route}, code="200"}}'] = f"0+{ok}x40"
        series[f'vllm_deploy_requests_total{{{pod}, {route}, code="500"}}'] = f"0+{failed}x40"
        # Probes are not generation requests: they must not count.
        probe = 'route="/health/ready", code="200"'
        series[f"vllm_deploy_requests_total{{{pod}, {probe}}}"] = "0+50x40"
    ttft = "vllm:time_to_first_token_seconds"
    # Canary: all first tokens between 1 and 2.5 s; stable: all under 0.5 s; the unrelated
    # ReplicaSet: all over 10 s (it must not count on either side).
    series |= _histogram(ttft, _pod(CANARY, "x1y2z"), {"0.5": 0, "1": 0, "2.5": 4, "+Inf": 4})
    series |= _histogram(ttft, _pod(STABLE, "x1y2z"), {"0.5": 6, "1": 6, "2.5": 6, "+Inf": 6})
    series |= _histogram(ttft, _pod(OTHER, "x1y2z"), {"0.5": 0, "1": 0, "2.5": 0, "+Inf": 9})
    return series


def _with_args(query: str) -> str:
    return query.replace("{{args.canary-hash}}", CANARY).replace("{{args.stable-hash}}", STABLE)


def _between(query: str, low: float, high: float) -> dict[str, Any]:
    """A promtool check that the query's single value lies in (low, high)."""
    q = _with_args(query)
    return {
        "expr": f"(({q}) > bool {low!r}) * (({q}) < bool {high!r})",
        "eval_time": "5m",
        "exp_samples": [{"labels": "{}", "value": 1}],
    }


def test_the_queries_select_the_right_pods_and_compute_what_the_conditions_expect(
    tmp_path: Path,
) -> None:
    metrics = _metrics(analysis_template(SPEC, OPTIONS))

    def query(name: str) -> str:
        return str(metrics[name]["provider"]["prometheus"]["query"])

    checks = [
        # 4 generation requests every 15 s on the canary: 16 a minute (probes excluded).
        _between(query("canary-requests"), 15.9, 16.1),
        # Canary error ratio 0.25; stable 0: excess over max(SLO 0.001, stable) is 0.249 > 0.
        _between(query("canary-error-ratio"), 0.248, 0.250),
        # p95 inside the canary's 1-2.5 s bucket: over the SLO's 2 s only if interpolated
        # past it; the stable pods' p95 under 0.5 s, so the ratio is well over 1.5.
        _between(query("canary-ttft-p95"), 1.0, 2.5),
        _between(query("canary-ttft-p95-ratio"), 3.0, 10.0),
    ]
    # No data on the canary (an unknown hash): empty, which the conditions call inconclusive.
    empty = query("canary-ttft-p95").replace("{{args.canary-hash}}", "n0n3")
    checks.append({"expr": empty, "eval_time": "5m", "exp_samples": []})
    test = {
        "interval": "15s",
        "input_series": [{"series": s, "values": v} for s, v in _series().items()],
        "promql_expr_test": checks,
    }
    test_file = tmp_path / "analysis.test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [], "tests": [test]}, width=10_000))
    out = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_command_writes_the_template_and_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "analysis.yaml"
    args = ["analysis-template", "-f", str(ROOT / "examples" / "prod.yaml")]
    result = runner.invoke(app, [*args, "--prometheus-url", "http://p:9090", "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(out.read_text())
    assert written == analysis_template(SPEC, AnalysisOptions("http://p:9090"))
    bad = runner.invoke(app, [*args, "--prometheus-url", "http://p:9090", "--steps", "0"])
    assert bad.exit_code == 2 and "--steps" in bad.output
    missing = runner.invoke(app, ["analysis-template", "-f", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
