"""The committed rules and dashboards are what the code generates (run `make generate`)."""

from __future__ import annotations

import json
from pathlib import Path

from vllm_deploy.observability import ObservabilityConfig, dashboards
from vllm_deploy.observability.generate import render_files

OUT = Path(__file__).parents[2] / "deploy" / "observability"


def test_committed_files_are_current() -> None:
    for rel, content in render_files(ObservabilityConfig()).items():
        path = OUT / rel
        assert path.exists(), f"{path} is missing: run `make generate`"
        assert path.read_text() == content, f"{path} is stale: run `make generate`"
    committed = {p.relative_to(OUT).as_posix() for p in OUT.rglob("*") if p.is_file()}
    assert committed <= set(render_files(ObservabilityConfig())) | {
        "README.md",
        "promtail.yaml",
        "otel-collector.yaml",
    }


def test_dashboards_are_well_formed() -> None:
    paths = sorted((OUT / "dashboards").glob("*.json"))
    expected = {b.uid for b in dashboards(ObservabilityConfig())}
    assert expected and {p.stem for p in paths} == expected
    for path in paths:
        board = json.loads(path.read_text())
        assert board["uid"] == path.stem
        names = {v["name"] for v in board["templating"]["list"]}
        assert {"datasource", "loki", "namespace", "model"} <= names
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        cells = set()
        for panel in board["panels"]:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24
            area = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & area, f"{path.name}: panel {panel['title']!r} overlaps another"
            cells |= area
            assert panel["targets"] and panel["description"]
            expected_source = "${loki}" if panel["type"] == "logs" else "${datasource}"
            assert all(t["datasource"]["uid"] == expected_source for t in panel["targets"])
