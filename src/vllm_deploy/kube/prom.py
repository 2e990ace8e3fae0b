"""The SLO queries ``status`` and ``canary`` ask Prometheus: p95 time to first token and
inter-token latency from vLLM's histograms, the error ratio of generation requests from the
middleware's counter, and the queue per pod; over a set of pods chosen by name."""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx

from vllm_deploy.contract import GENERATION_PATHS
from vllm_deploy.kube.errors import OpsError

__all__ = ["Prometheus", "SloValues", "pods_matcher", "slo_queries"]

_ROUTES = "|".join(sorted(GENERATION_PATHS))


def pods_matcher(namespace: str, include: str, exclude: str | None = None) -> str:
    """Label matchers for the pods whose names match ``include`` (and not ``exclude``)."""
    matcher = f'namespace="{namespace}",pod=~"{include}"'
    return matcher + (f',pod!~"{exclude}"' if exclude else "")


@dataclass
class SloValues:
    """NaN where there was no data (no request in the window)."""

    ttft_p95_s: float
    itl_p95_s: float
    error_ratio: float
    requests: float
    waiting_per_pod: float

    def as_dict(self) -> dict[str, float | None]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else round(v, 6))
            for k, v in self.__dict__.items()
        }


class Prometheus:
    """Usage: ``Prometheus("http://prometheus:9090").slo(matcher, "5m")``."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def query(self, promql: str) -> float:
        """An instant query's single value; NaN when it has no result."""
        try:
            answer = httpx.get(
                f"{self.url}/api/v1/query", params={"query": promql}, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise OpsError(f"cannot query Prometheus at {self.url}: {exc}") from None
        if answer.status_code != 200:
            raise OpsError(
                f"Prometheus at {self.url} answered {answer.status_code}: {answer.text[:200]}"
            )
        result = answer.json()["data"]["result"]
        if not result:
            return math.nan
        return float(result[0]["value"][1])

    def slo(self, matcher: str, window: str) -> SloValues:
        queries = slo_queries(matcher, window)
        requests = self.query(queries["requests"])
        return SloValues(
            ttft_p95_s=self.query(queries["ttft_p95_s"]),
            itl_p95_s=self.query(queries["itl_p95_s"]),
            error_ratio=self.query(queries["error_ratio"]),
            requests=0.0 if math.isnan(requests) else requests,
            waiting_per_pod=self.query(queries["waiting_per_pod"]),
        )


def slo_queries(matcher: str, window: str) -> dict[str, str]:
    """The PromQL behind each of ``SloValues``' fields, for the pods ``matcher`` selects.

    The canary gate asks them (``Prometheus.slo``), and the Argo Rollouts AnalysisTemplate
    carries the same text (``kube.analysis``).
    """

    def quantile(metric: str) -> str:
        return (
            f"histogram_quantile(0.95, sum by (le) (rate({metric}_bucket{{{matcher}}}[{window}])))"
        )

    generation = f'{matcher},route=~"{_ROUTES}"'
    total = f"sum(rate(vllm_deploy_requests_total{{{generation}}}[{window}]))"
    errors = f'sum(rate(vllm_deploy_requests_total{{{generation},code=~"5.."}}[{window}]))'
    return {
        "ttft_p95_s": quantile("vllm:time_to_first_token_seconds"),
        "itl_p95_s": quantile("vllm:inter_token_latency_seconds"),
        "error_ratio": f"({errors} or vector(0)) / {total}",
        "requests": f"sum(increase(vllm_deploy_requests_total{{{generation}}}[{window}]))",
        "waiting_per_pod": f"avg(vllm:num_requests_waiting{{{matcher}}})",
    }
