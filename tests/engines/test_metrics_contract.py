"""The engine metrics, docs/metrics.md and a live server's /metrics agree."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from vllm_deploy.contract import (
    INTER_TOKEN_LATENCY_BUCKETS,
    REQUEST_LATENCY_BUCKETS,
    TIME_TO_FIRST_TOKEN_BUCKETS,
)
from vllm_deploy.engines.metrics import (
    ENGINE_METRICS,
    FINISH_REASONS,
    EngineMetrics,
    bucket_values,
    build_1_2_5_buckets,
)
from vllm_deploy.harness import ServerProcess

DOC = Path(__file__).parents[2] / "docs" / "metrics.md"


def _doc_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `vllm:"):
            rows[cells[0].strip("`")] = cells
    return rows


def _exposed(name: str, kind: str) -> str:
    return name + "_total" if kind == "counter" else name


def test_docs_table_lists_exactly_the_engine_metrics() -> None:
    rows = _doc_rows()
    assert set(rows) == {_exposed(m.name, m.kind) for m in ENGINE_METRICS}
    for m in ENGINE_METRICS:
        cells = rows[_exposed(m.name, m.kind)]
        assert cells[1] == m.kind
        assert re.findall(r"`(\w+)`", cells[2]) == ["model_name", "engine", *m.extra_labels]
        assert cells[3] == (m.buckets or "-")


def test_docs_bucket_sets_match_the_code() -> None:
    text = DOC.read_text()
    for name, values in [
        ("ttft", TIME_TO_FIRST_TOKEN_BUCKETS),
        ("itl", INTER_TOKEN_LATENCY_BUCKETS),
        ("latency", REQUEST_LATENCY_BUCKETS),
    ]:
        row = re.search(rf"^\| {name} \| (.+) \|$", text, re.M)
        assert row is not None
        assert tuple(float(v) for v in row.group(1).split(",")) == values


@pytest.mark.parametrize(
    ("max_value", "expected"),
    [(100, [1, 2, 5, 10, 20, 50, 100]), (4096, [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]),
     (1, [1]), (8192, [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000])],
)  # fmt: skip
def test_token_buckets_follow_vllms_1_2_5_rule(max_value: int, expected: list[int]) -> None:
    assert build_1_2_5_buckets(max_value) == expected


def test_every_series_exists_at_start_with_zero_values() -> None:
    registry = CollectorRegistry()
    EngineMetrics(registry, "m", 2048)
    families = {f.name: f for f in registry.collect()}
    reasons = {
        s.labels["finished_reason"]
        for s in families["vllm:request_success"].samples
        if s.name.endswith("_total")
    }
    assert reasons == set(FINISH_REASONS)
    assert all(
        s.value == 0
        for f in families.values()
        for s in f.samples
        if not s.name.endswith("_created")
    )


def test_live_server_exposes_the_contract(simulated_server: ServerProcess) -> None:
    httpx.post(
        f"{simulated_server.url}/v1/completions",
        json={"prompt": "hello", "max_tokens": 3},
        timeout=30,
    ).raise_for_status()
    text = httpx.get(f"{simulated_server.url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for m in ENGINE_METRICS:
        family = families[m.name]
        assert family.type == m.kind, m.name
        labels = {frozenset(s.labels) - {"le"} for s in family.samples}
        assert labels == {frozenset({"model_name", "engine", *m.extra_labels})}, m.name
        assert {s.labels["model_name"] for s in family.samples} == {"sim-model"}
        if m.buckets is not None:
            bounds = [float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")]
            assert bounds == [*bucket_values(m.buckets, 512), float("inf")], m.name
    assert families["vllm:generation_tokens"].samples[0].value >= 3
