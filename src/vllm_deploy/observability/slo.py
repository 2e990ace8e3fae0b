"""Multiwindow, multi-burn-rate alerts on one deployment's SLO: the spec's ``slo:`` block.

Method: Google SRE Workbook, chapter 5 "Alerting on SLOs", section 6 "Multiwindow,
Multi-Burn-Rate Alerts" and its table 5-8 of recommended parameters
(https://sre.google/workbook/alerting-on-slos/). Over a 30-day SLO period, page when 2% of
the error budget is spent within 1 hour (a burn rate of 14.4) or 5% within 6 hours (6);
open a ticket when 10% is spent within 3 days (1). Each long window is confirmed by a short
one, 1/12 as long (5 m, 30 m, 6 h), so an alert stops soon after the burn does.

Each objective of the SLO is read as an error budget over events:

- ``ttft``: the p95 bound lets 5% of requests take longer than ``ttft_p95_s`` to their first
  token (``vllm:time_to_first_token_seconds``, queueing included);
- ``itl``: 5% of the gaps between tokens may exceed ``itl_p95_s``
  (``vllm:inter_token_latency_seconds``);
- ``errors``: ``error_ratio`` of API requests may fail: answered 5xx or 429 by the pod
  (``vllm_deploy_requests_total``; 503s from an ingress with no ready pod never reach a pod).

A bound between two of vLLM's histogram buckets is read by linear interpolation inside the
bucket, as ``histogram_quantile`` does, so "p95 <= bound" on a dashboard and "under 5% of
events above the bound" here agree. The rules are scoped to one Deployment's pods (the
pod-name pattern of a Deployment, ``<deployment>-<template hash>-<suffix>``), so every spec
renders its own without clashing with another's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from vllm_deploy.contract import INTER_TOKEN_LATENCY_BUCKETS, TIME_TO_FIRST_TOKEN_BUCKETS
from vllm_deploy.observability.config import ObservabilityConfig
from vllm_deploy.observability.rules import Severity
from vllm_deploy.spec.models import Slo

__all__ = [
    "BURN_TIERS",
    "SLO_ALERTS",
    "SLO_PERIOD_HOURS",
    "BurnTier",
    "Objective",
    "objectives",
    "slo_rules_document",
]

SLO_PERIOD_HOURS = 30 * 24
RECORD = "namespace_deployment:vllm_slo_errors:ratio_rate{window}"
_HOURS = {"m": 1 / 60, "h": 1.0, "d": 24.0}


@dataclass(frozen=True)
class BurnTier:
    """One row of the workbook's table 5-8: budget spent within ``long``, confirmed over
    ``short``."""

    alert: str
    severity: Severity
    long: str
    short: str
    budget_spent: float

    @property
    def burn_rate(self) -> float:
        """How many times faster than sustainable: budget spent x period / window."""
        long_h = int(self.long[:-1]) * _HOURS[self.long[-1]]
        return round(self.budget_spent * SLO_PERIOD_HOURS / long_h, 6)


BURN_TIERS = (
    BurnTier("VLLMSLOBudgetBurnFast", "critical", "1h", "5m", 0.02),
    BurnTier("VLLMSLOBudgetBurnFast", "critical", "6h", "30m", 0.05),
    BurnTier("VLLMSLOBudgetBurnSlow", "warning", "3d", "6h", 0.10),
)
# Alert name -> severity: the runbooks and the docs' alert table list these.
SLO_ALERTS: dict[str, Severity] = {t.alert: t.severity for t in BURN_TIERS}
WINDOWS = sorted(
    {w for t in BURN_TIERS for w in (t.long, t.short)},
    key=lambda w: int(w[:-1]) * _HOURS[w[-1]],
)


@dataclass(frozen=True)
class Objective:
    """One objective of the SLO: its error budget and the PromQL share of bad events."""

    name: Literal["ttft", "itl", "errors"]
    budget: float
    text: str
    bad_ratio: Callable[[str], str]  # window -> PromQL, one series per namespace


def _le(bound: float) -> str:
    """The ``le`` label of a bucket bound as prometheus_client writes it (2.5 -> "2.5")."""
    return repr(float(bound))


def _share_within(
    metric: str, buckets: tuple[float, ...], bound: float, sel: str
) -> Callable[[str], str]:
    """PromQL for the share of observations above ``bound``, per namespace, over a window."""
    if bound > buckets[-1]:
        raise ValueError(f"{bound} s is above {metric}'s largest bucket bound ({buckets[-1]} s)")

    def bucket(le: float, window: str) -> str:
        return f'sum by (namespace) (rate({metric}_bucket{{{sel}, le="{_le(le)}"}}[{window}]))'

    def bad(window: str) -> str:
        upper = next(b for b in buckets if b >= bound)
        lower = max((b for b in buckets if b < bound), default=0.0)
        if upper == bound:
            within = bucket(upper, window)
        else:  # linear inside the bucket, as histogram_quantile assumes
            share = (bound - lower) / (upper - lower)
            within = f"{share:.6g} * {bucket(upper, window)}"
            if lower:
                within = f"{1 - share:.6g} * {bucket(lower, window)} + {within}"
        count = f"sum by (namespace) (rate({metric}_count{{{sel}}}[{window}]))"
        return f"1 - ({within}) / {count}"

    return bad


def _failed(sel: str) -> Callable[[str], str]:
    def bad(window: str) -> str:
        api = f'{sel}, route=~"/v1/.*"'
        failed = (
            "sum by (namespace)"
            f' (rate(vllm_deploy_requests_total{{{api}, code=~"5..|429"}}[{window}]))'
        )
        total = f"sum by (namespace) (rate(vllm_deploy_requests_total{{{api}}}[{window}]))"
        # No failure at all leaves no failed series: the share is then 0, not absent.
        return f"({failed} or 0 * {total}) / {total}"

    return bad


def objectives(slo: Slo, selector: str) -> list[Objective]:
    """The SLO's three objectives over the series ``selector`` picks."""
    return [
        Objective(
            "ttft",
            0.05,
            f"95% of requests get a first token within {slo.ttft_p95_s:g} s",
            _share_within(
                "vllm:time_to_first_token_seconds",
                TIME_TO_FIRST_TOKEN_BUCKETS,
                slo.ttft_p95_s,
                selector,
            ),
        ),
        Objective(
            "itl",
            0.05,
            f"95% of inter-token gaps are within {slo.itl_p95_s:g} s",
            _share_within(
                "vllm:inter_token_latency_seconds",
                INTER_TOKEN_LATENCY_BUCKETS,
                slo.itl_p95_s,
                selector,
            ),
        ),
        Objective(
            "errors",
            slo.error_ratio,
            f"at most {slo.error_ratio:.3%} of API requests fail (5xx or 429)",
            _failed(selector),
        ),
    ]


def _threshold(objective: Objective, tier: BurnTier) -> str:
    return f"{tier.burn_rate * objective.budget:.6g}"


_TITLES = {"ttft": "time-to-first-token", "itl": "inter-token latency", "errors": "error-ratio"}


def _alert(
    name: str,
    tiers: list[BurnTier],
    objective: Objective,
    matcher: str,
    where: str,
    runbook_base_url: str,
) -> dict[str, Any]:
    pairs = [
        f"({RECORD.format(window=t.long)}{{{matcher}}} > {_threshold(objective, t)}"
        f" and {RECORD.format(window=t.short)}{{{matcher}}} > {_threshold(objective, t)})"
        for t in tiers
    ]
    rates = ", or ".join(
        f"over {t.burn_rate:g} times as fast as a 30-day budget allows, over the last {t.long} "
        f"and the last {t.short}"
        for t in tiers
    )
    title = _TITLES[objective.name]
    return {
        "alert": name,
        "expr": " or ".join(pairs),
        "for": "0s",
        "labels": {"severity": tiers[0].severity, "slo": objective.name},
        "annotations": {
            "summary": f"A vLLM deployment burns its {title} SLO budget"
            + (" fast." if tiers[0].severity == "critical" else "."),
            "description": f"{where} burns the error budget of its {title} objective "
            f"({objective.text}) {rates}.",
            "runbook_url": f"{runbook_base_url}/{name}.md",
        },
    }


def slo_rules_document(
    slo: Slo, namespace: str, deployment: str, config: ObservabilityConfig | None = None
) -> dict[str, Any]:
    """The ``groups:`` of one deployment's SLO rules (a PrometheusRule's ``spec``).

    Usage: ``slo_rules_document(spec.slo, spec.namespace, spec.app_name)``.
    """
    config = config or ObservabilityConfig()
    selector = (
        f'{config.vllm_selector}, namespace="{namespace}", pod=~"{deployment}-[a-z0-9]+-[a-z0-9]+"'
    )
    rules: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for objective in objectives(slo, selector):
        labels = {"deployment": deployment, "slo": objective.name}
        for window in WINDOWS:
            rules.append(
                {
                    "record": RECORD.format(window=window),
                    "expr": objective.bad_ratio(window),
                    "labels": dict(labels),
                }
            )
        matcher = f'namespace="{namespace}", deployment="{deployment}", slo="{objective.name}"'
        for name in SLO_ALERTS:
            tiers = [t for t in BURN_TIERS if t.alert == name]
            alerts.append(
                _alert(
                    name,
                    tiers,
                    objective,
                    matcher,
                    f"{namespace}/{deployment}",
                    config.runbook_base_url,
                )
            )
    # One group: the alerts read the ratios recorded in the same evaluation.
    return {"groups": [{"name": f"{deployment}-slo", "rules": [*rules, *alerts]}]}
