"""docs/metrics.md lists exactly the middleware's metrics, with their types, labels and buckets."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from vllm_deploy.runtime.metrics import DRAIN_BUCKETS, REQUEST_BUCKETS, MiddlewareMetrics

DOC = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()


def test_docs_table_matches_the_registered_metrics() -> None:
    metrics = MiddlewareMetrics(CollectorRegistry())
    rows = {}
    for line in DOC.splitlines():
        if line.startswith("| `vllm_deploy_"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    exposed = {}
    for metric in vars(metrics).values():
        if not hasattr(metric, "_type"):
            continue
        kind = metric._type
        name = metric._name + ("_total" if kind == "counter" else "")
        exposed[name] = (kind, set(metric._labelnames))
    assert set(rows) == set(exposed)
    for name, (kind, labels) in exposed.items():
        assert rows[name][1] == kind, name
        assert set(re.findall(r"`(\w+)`", rows[name][2])) == labels, name
    for set_name, values in (("request", REQUEST_BUCKETS), ("drain", DRAIN_BUCKETS)):
        row = re.search(rf"^\| {set_name} \| (.+) \|$", DOC, re.M)
        assert row is not None
        assert tuple(float(v) for v in row.group(1).split(",")) == tuple(float(v) for v in values)
