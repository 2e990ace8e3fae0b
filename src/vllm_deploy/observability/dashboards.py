"""The three dashboards: overview (traffic, errors, latency, tokens), capacity, lifecycle."""

from __future__ import annotations

from vllm_deploy.observability.config import ObservabilityConfig
from vllm_deploy.observability.grafana import Dashboard, Panel, Target
from vllm_deploy.observability.rules import BY, QUANTILES

__all__ = ["dashboards"]

NS = 'namespace=~"$namespace"'
MODEL = 'model_name=~"$model"'
LEVEL = BY.replace(", ", "_")


def _quantiles(short: str) -> tuple[Target, ...]:
    return tuple(
        Target(
            f"{LEVEL}:vllm_{short}_seconds:{name}_5m{{{NS}, {MODEL}}}", f"{name} {{{{model_name}}}}"
        )
        for name in QUANTILES
    )


def _overview(c: ObservabilityConfig) -> Dashboard:
    v = f"{c.vllm_selector}, {NS}"
    return Dashboard(
        "vllm-overview",
        "vLLM / Overview",
        description="Traffic, errors, latency and tokens.",
        panels=(
            Panel(
                "Requests by status",
                (
                    Target(
                        "sum by (code) (rate("
                        f'vllm_deploy_requests_total{{{v}, route=~"/v1/.*"}}[$__rate_interval]))',
                        "{{code}}",
                    ),
                ),
                "API requests per second, by HTTP status.",
                unit="reqps",
            ),
            Panel(
                "Error ratio (5xx)",
                (
                    Target(
                        f"namespace_job:vllm_deploy_requests_errors:ratio_rate5m{{{NS}}}",
                        "{{namespace}}",
                    ),
                ),
                "Share of API requests answered with 5xx (alert: VLLMHighErrorRatio).",
                unit="percentunit",
            ),
            Panel(
                "Time to first token",
                _quantiles("ttft"),
                "TTFT percentiles over 5 minutes.",
                unit="s",
                width=8,
            ),
            Panel(
                "Inter-token latency",
                _quantiles("itl"),
                "ITL percentiles over 5 minutes.",
                unit="s",
                width=8,
            ),
            Panel(
                "End-to-end latency",
                _quantiles("e2e"),
                "Request latency percentiles over 5 minutes.",
                unit="s",
                width=8,
            ),
            Panel(
                "Tokens per second",
                (
                    Target(
                        f"{LEVEL}:vllm_generation_tokens:rate5m{{{NS}, {MODEL}}}",
                        "generated {{model_name}}",
                    ),
                    Target(
                        f"{LEVEL}:vllm_prompt_tokens:rate5m{{{NS}, {MODEL}}}",
                        "prompt {{model_name}}",
                    ),
                ),
                "Prompt and generated tokens per second.",
            ),
            Panel(
                "TTFT SLO error ratio",
                tuple(
                    Target(
                        f"{LEVEL}:vllm_ttft_slo_errors:ratio_rate{w}{{{NS}, {MODEL}}}",
                        f"{w} {{{{model_name}}}}",
                    )
                    for w in ("5m", "1h")
                ),
                f"Share of requests over the {c.ttft_slo_seconds:g} s TTFT objective; "
                f"the budget is {1 - c.ttft_slo_objective:.1%} "
                "(alerts: VLLMTTFTBudgetBurnFast/Slow).",
                unit="percentunit",
            ),
            Panel(
                "Errors and failed requests (logs)",
                (
                    Target(
                        '{namespace=~"$namespace", container="vllm"}'
                        ' | json | level="ERROR" or status >= 500'
                    ),
                ),
                "Pod log lines at ERROR and access lines with a 5xx status.",
                kind="logs",
                width=24,
                height=10,
            ),
        ),
    )


def _capacity(c: ObservabilityConfig) -> Dashboard:
    v = f"{c.vllm_selector}, {NS}, {MODEL}"
    hpa = f"{c.ksm_hpa_selector}, {NS}"
    gpu = f"{c.dcgm_selector}, {NS}"
    return Dashboard(
        "vllm-capacity",
        "vLLM / Capacity",
        description="Batch, queue, KV cache, replicas, GPUs.",
        panels=(
            Panel(
                "Running requests per pod",
                (Target(f"vllm:num_requests_running{{{v}}}", "{{pod}}"),),
                "Requests in each pod's running batch.",
            ),
            Panel(
                "Waiting requests per pod",
                (
                    Target(f"vllm:num_requests_waiting{{{v}}}", "{{pod}}"),
                    Target(
                        f"{LEVEL}:vllm_num_requests_waiting:avg_per_pod{{{NS}, {MODEL}}}",
                        "average (HPA metric)",
                    ),
                ),
                "Requests queued for a batch slot; the average is what the HPA scales on.",
            ),
            Panel(
                "KV cache usage per pod",
                (Target(f"vllm:kv_cache_usage_perc{{{v}}}", "{{pod}}"),),
                "Share of each pod's KV cache in use (alert: VLLMKVCacheSaturated).",
                unit="percentunit",
            ),
            Panel(
                "Replicas vs autoscaler",
                (
                    Target(
                        f"kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}}", "current"
                    ),
                    Target(
                        f"kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}}", "desired"
                    ),
                    Target(f"kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}", "max"),
                ),
                "Replicas now, what the HPA wants, and its ceiling (alert: VLLMHPAAtMaxReplicas).",
            ),
            Panel(
                "GPU utilisation",
                (Target(f"DCGM_FI_DEV_GPU_UTIL{{{gpu}}}", "{{pod}} gpu {{gpu}}"),),
                "Per GPU, from the DCGM exporter.",
                unit="percent",
            ),
            Panel(
                "GPU memory used",
                (
                    Target(
                        f"DCGM_FI_DEV_FB_USED{{{gpu}}}"
                        f" / (DCGM_FI_DEV_FB_USED{{{gpu}}} + DCGM_FI_DEV_FB_FREE{{{gpu}}})",
                        "{{pod}} gpu {{gpu}}",
                    ),
                ),
                "Per GPU; vLLM pre-allocates --gpu-memory-utilization of it.",
                unit="percentunit",
            ),
        ),
    )


def _lifecycle(c: ObservabilityConfig) -> Dashboard:
    v = f"{c.vllm_selector}, {NS}"
    return Dashboard(
        "vllm-lifecycle",
        "vLLM / Lifecycle",
        description="Readiness, drains, restarts, refusals.",
        panels=(
            Panel(
                "Ready pods",
                (
                    Target(
                        "sum by (namespace) (kube_pod_status_ready"
                        f'{{{c.ksm_pod_selector}, {NS}, condition="true"}})',
                        "{{namespace}}",
                    ),
                ),
                "Pods passing their readiness probe.",
                kind="stat",
                width=6,
            ),
            Panel(
                "Draining pods",
                (Target(f"sum(vllm_deploy_draining{{{v}}})", "draining"),),
                "Pods in a drain (readiness 503).",
                kind="stat",
                width=6,
            ),
            Panel(
                "Stalled engines",
                (Target(f"sum(vllm_deploy_engine_stalled{{{v}}})", "stalled"),),
                "Pods whose watchdog sees no token progress (alert: VLLMEngineStalled).",
                kind="stat",
                width=6,
            ),
            Panel(
                "Restarts (1h)",
                (
                    Target(
                        "sum(increase(kube_pod_container_status_restarts_total"
                        f"{{{c.ksm_container_selector}, {NS}}}[1h]))",
                        "restarts",
                    ),
                ),
                "Container restarts in the last hour.",
                kind="stat",
                width=6,
            ),
            Panel(
                "In-flight requests per pod",
                (Target(f"vllm_deploy_requests_in_flight{{{v}}}", "{{pod}}"),),
                "Requests being served, as admission control counts them.",
            ),
            Panel(
                "Refused requests",
                (
                    Target(
                        "sum by (reason)"
                        f" (rate(vllm_deploy_rejections_total{{{v}}}[$__rate_interval]))",
                        "{{reason}}",
                    ),
                ),
                "Requests refused by the middleware, by reason.",
                unit="reqps",
            ),
            Panel(
                "Drains by result (1h)",
                (
                    Target(
                        "sum by (result)"
                        f" (increase(vllm_deploy_drain_duration_seconds_count{{{v}}}[1h]))",
                        "{{result}}",
                    ),
                ),
                "Drains that went quiet vs hit their deadline.",
            ),
            Panel(
                "Watchdog trips (1h)",
                (
                    Target(
                        f"sum by (pod) (increase(vllm_deploy_watchdog_trips_total{{{v}}}[1h]))",
                        "{{pod}}",
                    ),
                ),
                "Times each pod's engine was found stalled.",
            ),
        ),
    )


def dashboards(c: ObservabilityConfig) -> list[Dashboard]:
    return [_overview(c), _capacity(c), _lifecycle(c)]
