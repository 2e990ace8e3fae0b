"""The engine side of the metric contract: vLLM's names, labels and buckets.

Read from vLLM 0.33.0 (`vllm/v1/metrics/loggers.py`, `vllm/v1/metrics/buckets.py`). Our
GPU-free engines export this subset so dashboards, alerts and autoscaling work unchanged.
Counters are declared without ``_total``; prometheus_client appends it on exposition,
exactly as for vLLM's own counters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vllm_deploy.contract import (
    INTER_TOKEN_LATENCY_BUCKETS,
    REQUEST_LATENCY_BUCKETS,
    TIME_TO_FIRST_TOKEN_BUCKETS,
)

__all__ = [
    "ENGINE_METRICS",
    "FINISH_REASONS",
    "EngineMetrics",
    "MetricSpec",
    "build_1_2_5_buckets",
]

# `str(FinishReason.X)` in vLLM; a series for each is created at start-up.
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "abort", "error", "repetition")


def build_1_2_5_buckets(max_value: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to ``max_value`` (vLLM's token-count buckets)."""
    buckets: list[int] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return buckets
            buckets.append(value)
        exponent += 1


Kind = Literal["gauge", "counter", "histogram"]
Buckets = Literal["ttft", "itl", "latency", "tokens"]


@dataclass(frozen=True)
class MetricSpec:
    """One engine metric: what vLLM declares, and what it means here."""

    name: str
    kind: Kind
    documentation: str
    extra_labels: tuple[str, ...] = ()
    buckets: Buckets | None = None


ENGINE_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "vllm:num_requests_running", "gauge", "Number of requests in model execution batches."
    ),
    MetricSpec("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed."),
    MetricSpec("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage."),
    MetricSpec("vllm:prompt_tokens", "counter", "Number of prefill tokens processed."),
    MetricSpec("vllm:generation_tokens", "counter", "Number of generation tokens processed."),
    MetricSpec(
        "vllm:request_success",
        "counter",
        "Count of successfully processed requests.",
        ("finished_reason",),
    ),
    MetricSpec(
        "vllm:request_prompt_tokens",
        "histogram",
        "Number of prefill tokens processed.",
        buckets="tokens",
    ),
    MetricSpec(
        "vllm:request_generation_tokens",
        "histogram",
        "Number of generation tokens processed.",
        buckets="tokens",
    ),
    MetricSpec(
        "vllm:request_params_max_tokens",
        "histogram",
        "Histogram of the max_tokens request parameter.",
        buckets="tokens",
    ),
    MetricSpec(
        "vllm:time_to_first_token_seconds",
        "histogram",
        "Histogram of time to first token in seconds.",
        buckets="ttft",
    ),
    MetricSpec(
        "vllm:inter_token_latency_seconds",
        "histogram",
        "Histogram of inter-token latency in seconds.",
        buckets="itl",
    ),
    MetricSpec(
        "vllm:request_time_per_output_token_seconds",
        "histogram",
        "Histogram of time_per_output_token_seconds per request.",
        buckets="itl",
    ),
    MetricSpec(
        "vllm:e2e_request_latency_seconds",
        "histogram",
        "Histogram of e2e request latency in seconds.",
        buckets="latency",
    ),
    MetricSpec(
        "vllm:request_queue_time_seconds",
        "histogram",
        "Histogram of time spent in WAITING phase for request.",
        buckets="latency",
    ),
    MetricSpec(
        "vllm:request_inference_time_seconds",
        "histogram",
        "Histogram of time spent in RUNNING phase for request.",
        buckets="latency",
    ),
    MetricSpec(
        "vllm:request_prefill_time_seconds",
        "histogram",
        "Histogram of time spent in PREFILL phase for request.",
        buckets="latency",
    ),
    MetricSpec(
        "vllm:request_decode_time_seconds",
        "histogram",
        "Histogram of time spent in DECODE phase for request.",
        buckets="latency",
    ),
)

_LABELS = ("model_name", "engine")
Builder = Callable[
    [MetricSpec, tuple[str, ...], CollectorRegistry, int], "Gauge | Counter | Histogram"
]
_BUILDERS: dict[Kind, Builder] = {
    "gauge": lambda spec, names, registry, _: Gauge(
        spec.name, spec.documentation, names, registry=registry
    ),
    "counter": lambda spec, names, registry, _: Counter(
        spec.name, spec.documentation, names, registry=registry
    ),
    "histogram": lambda spec, names, registry, max_len: Histogram(
        spec.name,
        spec.documentation,
        names,
        registry=registry,
        buckets=bucket_values(spec.buckets or "latency", max_len),
    ),
}


def bucket_values(kind: Buckets, max_model_len: int) -> Sequence[float]:
    fixed: dict[Buckets, Sequence[float]] = {
        "ttft": TIME_TO_FIRST_TOKEN_BUCKETS,
        "itl": INTER_TOKEN_LATENCY_BUCKETS,
        "latency": REQUEST_LATENCY_BUCKETS,
    }
    if kind == "tokens":
        return [float(b) for b in build_1_2_5_buckets(max_model_len)]
    return fixed[kind]


class EngineMetrics:
    """The engine metrics of one served model, registered in ``registry``.

    Usage: ``m = EngineMetrics(CollectorRegistry(), "tiny", 2048); m.prompt_tokens.inc(5)``.
    """

    def __init__(
        self, registry: CollectorRegistry, model_name: str, max_model_len: int, engine: str = "0"
    ) -> None:
        labels = {"model_name": model_name, "engine": engine}
        built: dict[str, Gauge | Counter | Histogram] = {}
        for spec in ENGINE_METRICS:
            names = (*_LABELS, *spec.extra_labels)
            built[spec.name] = _BUILDERS[spec.kind](spec, names, registry, max_model_len)

        def child(name: str) -> Gauge | Counter | Histogram:
            return built[name].labels(**labels)

        def hist(name: str) -> Histogram:
            h = child(name)
            assert isinstance(h, Histogram)
            return h

        def gauge(name: str) -> Gauge:
            g = child(name)
            assert isinstance(g, Gauge)
            return g

        def counter(name: str) -> Counter:
            c = child(name)
            assert isinstance(c, Counter)
            return c

        self.num_requests_running = gauge("vllm:num_requests_running")
        self.num_requests_waiting = gauge("vllm:num_requests_waiting")
        self.kv_cache_usage_perc = gauge("vllm:kv_cache_usage_perc")
        self.prompt_tokens = counter("vllm:prompt_tokens")
        self.generation_tokens = counter("vllm:generation_tokens")
        success = built["vllm:request_success"]
        assert isinstance(success, Counter)
        self.request_success = {
            r: success.labels(**labels, finished_reason=r) for r in FINISH_REASONS
        }
        self.request_prompt_tokens = hist("vllm:request_prompt_tokens")
        self.request_generation_tokens = hist("vllm:request_generation_tokens")
        self.request_params_max_tokens = hist("vllm:request_params_max_tokens")
        self.time_to_first_token = hist("vllm:time_to_first_token_seconds")
        self.inter_token_latency = hist("vllm:inter_token_latency_seconds")
        self.request_time_per_output_token = hist("vllm:request_time_per_output_token_seconds")
        self.e2e_request_latency = hist("vllm:e2e_request_latency_seconds")
        self.request_queue_time = hist("vllm:request_queue_time_seconds")
        self.request_inference_time = hist("vllm:request_inference_time_seconds")
        self.request_prefill_time = hist("vllm:request_prefill_time_seconds")
        self.request_decode_time = hist("vllm:request_decode_time_seconds")
