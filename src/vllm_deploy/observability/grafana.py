"""Typed builders for Grafana dashboards (JSON model, schema 39), datasources as variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Dashboard", "Panel", "Target"]

PanelKind = Literal["timeseries", "stat", "logs"]
_COLUMNS = 24


@dataclass(frozen=True)
class Target:
    """One query: PromQL for metric panels, LogQL for logs panels."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    description: str
    kind: PanelKind = "timeseries"
    unit: str = "short"
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Dashboard:
    """Usage: ``Dashboard("vllm-overview", "vLLM / Overview", panels).to_json()``."""

    uid: str
    title: str
    panels: tuple[Panel, ...]
    description: str
    tags: tuple[str, ...] = field(default=("vllm", "vllm-deploy"))

    def to_json(self, namespace_metric: str) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "editable": True,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "timezone": "browser",
            "graphTooltip": 1,
            "annotations": {"list": []},
            "templating": {"list": _variables(namespace_metric)},
            "panels": _layout(self.panels),
        }


def _datasource(kind: Literal["prometheus", "loki"]) -> dict[str, str]:
    var = "datasource" if kind == "prometheus" else "loki"
    return {"type": kind, "uid": f"${{{var}}}"}


def _variables(namespace_metric: str) -> list[dict[str, Any]]:
    def query_var(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": _datasource("prometheus"),
            "query": {"query": query, "refId": f"{name}-var"},
            "definition": query,
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
        }

    return [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
        {"name": "loki", "label": "Loki", "type": "datasource", "query": "loki"},
        query_var("namespace", "Namespace", f"label_values({namespace_metric}, namespace)"),
        query_var(
            "model",
            "Model",
            f'label_values({namespace_metric}{{namespace=~"$namespace"}}, model_name)',
        ),
    ]


def _layout(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    """Left to right, top to bottom, in rows of 24 columns."""
    out, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > _COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        out.append(
            _panel_json(panel, panel_id, {"x": x, "y": y, "w": panel.width, "h": panel.height})
        )
        x += panel.width
        row_height = max(row_height, panel.height)
    return out


def _panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    source = _datasource("loki" if panel.kind == "logs" else "prometheus")
    targets = [
        {"refId": chr(ord("A") + i), "datasource": source, "expr": t.expr, "legendFormat": t.legend}
        for i, t in enumerate(panel.targets)
    ]
    result: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "gridPos": grid,
        "datasource": source,
        "targets": targets,
    }
    if panel.kind == "logs":
        result["options"] = {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"}
    else:
        result["fieldConfig"] = {"defaults": {"unit": panel.unit}, "overrides": []}
        if panel.kind == "timeseries":
            result["options"] = {
                "legend": {
                    "displayMode": "table",
                    "placement": "bottom",
                    "calcs": ["lastNotNull", "max"],
                },
                "tooltip": {"mode": "multi"},
            }
    return result
