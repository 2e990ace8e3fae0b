"""The canary gate as an Argo Rollouts ``AnalysisTemplate``, for clusters that run Argo Rollouts.

``vllm-deploy canary`` runs the gate itself (kube/canary.py). Users who roll out with Argo
Rollouts instead (a ``Rollout`` with ``workloadRef`` to the rendered Deployment, canary steps
and ``analysis``) get the same checks, with the same PromQL (``prom.slo_queries``), as an
AnalysisTemplate that Argo's analysis controller runs. Argo names a Rollout's ReplicaSets
``<rollout>-<pod-template-hash>``, so the canary's and the stable pods are chosen by pod name
with the ``canary-hash`` and ``stable-hash`` arguments, which the Rollout passes with
``valueFrom.podTemplateHashValue: Latest`` and ``Stable``.

How Argo evaluates a measurement (argo-rollouts v1.9.1, utils/evaluate/evaluate.go,
``EvaluateResult``): the failure condition true is Failed; neither condition true is
Inconclusive. The Prometheus provider passes an instant vector as a list of floats
(metricproviders/prometheus/prometheus.go, ``processResponse``), so every condition first
checks ``len(result) == 1``: no data (no request in the window, an empty vector or NaN) is
Inconclusive, never Failed nor Successful. The metrics, each measured ``steps`` times, one
``interval`` apart, over a window of one interval:

- ``canary-requests``: at least ``min_requests`` generation requests reached the canary; no
  failure condition, so fewer is Failed; ``failureLimit: steps - 1`` fails the analysis when
  no interval had enough (the gate aborts after as many empty intervals as steps);
- ``canary-error-ratio``: the canary's error ratio minus the larger of the SLO's
  ``error_ratio`` and the stable pods' ratio; above 0 fails (the gate's rule);
- ``canary-ttft-p95`` and ``canary-itl-p95``: above the SLO's bound fails;
- ``canary-ttft-p95-ratio``: canary / stable p95 TTFT above ``max_ttft_ratio`` fails.

Each SLO metric has ``failureLimit: 0`` (the first failure fails the analysis, and Argo aborts
the rollout) and ``inconclusiveLimit: steps`` (an interval without data is not a failure;
``canary-requests`` accounts for traffic). One difference from the gate: Argo evaluates the
metrics independently, so an interval with fewer than ``min_requests`` requests can still
fail on its latency; the gate skips such an interval whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from vllm_deploy.kube.prom import slo_queries
from vllm_deploy.render.common import Obj, metadata
from vllm_deploy.spec import DeploymentSpec

__all__ = ["AnalysisOptions", "analysis_template"]

ARGS = ("canary-hash", "stable-hash")


@dataclass
class AnalysisOptions:
    prometheus_url: str
    interval_s: int = 60
    steps: int = 5
    max_ttft_ratio: float = 1.5
    min_requests: int = 10
    rollout: str | None = None  # the Rollout's name; the Deployment's by default


def _pods(spec: DeploymentSpec, rollout: str, arg: str) -> str:
    return f'namespace="{spec.namespace}",pod=~"{rollout}-{{{{args.{arg}}}}}-.*"'


def _within(bound: float) -> tuple[str, str | None]:
    """(success, failure) conditions: at most ``bound``; no data is neither."""
    return (
        f"len(result) == 1 && result[0] <= {bound!r}",
        f"len(result) == 1 && result[0] > {bound!r}",
    )


def analysis_template(spec: DeploymentSpec, options: AnalysisOptions) -> Obj:
    """The AnalysisTemplate ``<app>-slo`` in the spec's namespace."""
    rollout = options.rollout or spec.app_name
    window = f"{options.interval_s}s"
    canary = slo_queries(_pods(spec, rollout, "canary-hash"), window)
    stable = slo_queries(_pods(spec, rollout, "stable-hash"), window)
    slo = spec.slo

    def metric(
        name: str, query: str, conditions: tuple[str, str | None], limits: dict[str, int]
    ) -> Obj:
        success, failure = conditions
        body: Obj = {
            "name": name,
            "interval": window,
            "count": options.steps,
            "successCondition": success,
        }
        if failure is not None:
            body["failureCondition"] = failure
        body.update(limits)
        body["provider"] = {"prometheus": {"address": options.prometheus_url, "query": query}}
        return body

    # The first failure fails the analysis; no data is not a failure (canary-requests is).
    slo_limits = {"failureLimit": 0, "inconclusiveLimit": options.steps}
    error_excess = (
        f"({canary['error_ratio']})"
        f" - clamp_min(({stable['error_ratio']}) or vector(0), {slo.error_ratio!r})"
    )
    ttft_ratio = f"({canary['ttft_p95_s']}) / ({stable['ttft_p95_s']})"
    enough = (f"len(result) == 1 && result[0] >= {options.min_requests}", None)
    metrics = [
        # Fewer requests fails the measurement; all intervals short fails the analysis.
        metric("canary-requests", canary["requests"], enough, {"failureLimit": options.steps - 1}),
        metric("canary-error-ratio", error_excess, _within(0.0), slo_limits),
        metric("canary-ttft-p95", canary["ttft_p95_s"], _within(slo.ttft_p95_s), slo_limits),
        metric("canary-itl-p95", canary["itl_p95_s"], _within(slo.itl_p95_s), slo_limits),
        metric("canary-ttft-p95-ratio", ttft_ratio, _within(options.max_ttft_ratio), slo_limits),
    ]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": metadata(spec, f"{spec.app_name}-slo"),
        "spec": {"args": [{"name": name} for name in ARGS], "metrics": metrics},
    }
