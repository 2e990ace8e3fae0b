"""Which alerts and dashboards read each metric (for the docs' metric table)."""

from __future__ import annotations

import re

from vllm_deploy.observability.config import ObservabilityConfig
from vllm_deploy.observability.dashboards import dashboards
from vllm_deploy.observability.rules import alerts, recording_rules
from vllm_deploy.observability.slo import slo_rules_document
from vllm_deploy.spec.models import Slo

__all__ = ["metric_usage"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _metrics_in(expr: str, recorded: dict[str, str]) -> set[str]:
    """Metric names an expression reads, through recording rules, as the docs name them."""
    names: set[str] = set()
    for token in _NAME.findall(expr):
        if token in recorded:
            names |= _metrics_in(recorded[token], recorded)
        elif ":" in token or token.startswith(("vllm_deploy_", "kube_", "DCGM_")) or token == "up":
            for suffix in ("_bucket", "_count", "_sum"):
                token = token.removesuffix(suffix)
            names.add(token)
    return names


def metric_usage(config: ObservabilityConfig) -> dict[str, set[str]]:
    """Metric name (counters with ``_total``) -> {"VLLMSomeAlert", "dashboard vllm-capacity",
    ...}."""
    recorded = {r.record: r.expr for r in recording_rules(config)}
    usage: dict[str, set[str]] = {}
    for alert in alerts(config):
        for name in _metrics_in(alert.expr, recorded):
            usage.setdefault(name, set()).add(alert.name)
    # Each spec's SLO alerts (rendered per deployment; any spec reads the same metrics).
    slo_rules = slo_rules_document(Slo(), "llm", "vllm-model", config)["groups"][0]["rules"]
    slo_recorded: dict[str, str] = {}
    for rule in slo_rules:
        if "record" in rule:  # one name per window, one rule per objective: read them all
            slo_recorded[rule["record"]] = f"{slo_recorded.get(rule['record'], '')} {rule['expr']}"
    for rule in slo_rules:
        if "alert" in rule:
            for name in _metrics_in(rule["expr"], slo_recorded):
                usage.setdefault(name, set()).add(rule["alert"])
    for board in dashboards(config):
        for panel in board.panels:
            if panel.kind == "logs":
                continue
            for target in panel.targets:
                for name in _metrics_in(target.expr, recorded):
                    usage.setdefault(name, set()).add(f"dashboard {board.uid}")
    return usage
