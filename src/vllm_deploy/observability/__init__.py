"""Alerts, recording rules and dashboards, generated from one config block."""

from vllm_deploy.observability.config import ObservabilityConfig
from vllm_deploy.observability.dashboards import dashboards
from vllm_deploy.observability.rules import alerts, recording_rules, rules_document

__all__ = ["ObservabilityConfig", "alerts", "dashboards", "recording_rules", "rules_document"]
