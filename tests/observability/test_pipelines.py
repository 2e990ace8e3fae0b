"""The log and trace pipeline configs parse and agree with what the middleware writes."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from vllm_deploy.engines import ENGINES, build_app
from vllm_deploy.runtime import MiddlewareSettings, ProductionMiddleware
from vllm_deploy.runtime.logs import JsonFormatter
from vllm_deploy.serve_config import ServeConfig, SimulatedSettings

OUT = Path(__file__).parents[2] / "deploy" / "observability"


@pytest.fixture(scope="module")
def access_line() -> dict[str, Any]:
    """A real access-log line, as the middleware writes it, parsed."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("vllm_deploy.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        config = ServeConfig(
            engine="simulated", model="m", sim=SimulatedSettings(ttft_ms=0, itl_ms=0)
        )
        registry = CollectorRegistry()
        app = ProductionMiddleware(
            build_app(config, ENGINES["simulated"], registry),
            settings=MiddlewareSettings(),
            registry=registry,
        )
        with TestClient(app) as client:
            while client.get("/health/ready").status_code != 200:
                pass
            client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    line: dict[str, Any] = json.loads(JsonFormatter().format(records[-1]))
    return line


def test_promtail_parses_fields_the_logs_have(access_line: dict[str, Any]) -> None:
    config = yaml.safe_load((OUT / "promtail.yaml").read_text())
    (job,) = config["scrape_configs"]
    stages = {next(iter(s)): s[next(iter(s))] for s in job["pipeline_stages"]}
    parsed = stages["json"]["expressions"]
    assert set(parsed.values()) <= set(access_line)
    assert set(stages["labels"]) <= set(parsed) and set(stages["structured_metadata"]) <= set(
        parsed
    )
    assert stages["timestamp"]["source"] in parsed
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "pod", "container"} <= targets


def test_dashboard_logql_uses_promtail_labels_and_log_fields(access_line: dict[str, Any]) -> None:
    board = json.loads((OUT / "dashboards" / "vllm-overview.json").read_text())
    logql = [t["expr"] for p in board["panels"] if p["type"] == "logs" for t in p["targets"]]
    assert logql
    for expr in logql:
        selector, pipeline = expr.split("}", 1)
        assert set(re.findall(r"(\w+)=~?\"", selector)) <= {
            "namespace",
            "pod",
            "container",
            "level",
            "logger",
        }
        assert "| json" in pipeline
        fields = set(re.findall(r"(\w+)\s*(?:=|>=|<=|!=|>|<)", pipeline.split("| json", 1)[1]))
        assert fields and fields <= set(access_line)


def test_otel_collector_pipeline_is_complete() -> None:
    config = yaml.safe_load((OUT / "otel-collector.yaml").read_text())
    (pipeline,) = config["service"]["pipelines"].values()
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), kind
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["http"]["endpoint"].endswith(":4318")  # the pods export OTLP/HTTP
    assert any(e.startswith("otlp") for e in pipeline["exporters"])
