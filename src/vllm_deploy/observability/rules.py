"""Recording rules and alerts, from one config block.

Recording rules follow Prometheus' ``level:metric:operations`` naming; every alert has the
same shape: ``severity`` label (critical pages, warning tickets, info informs), and
``summary``, ``description`` and ``runbook_url`` annotations. Descriptions use only
``$labels`` so promtool tests can check them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vllm_deploy.observability.config import ObservabilityConfig

__all__ = ["Alert", "Recording", "alerts", "recording_rules", "rules_document"]

Severity = Literal["critical", "warning", "info"]
BY = "namespace, model_name"
SLO_WINDOWS = ("5m", "30m", "1h", "6h")
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str

    def rule(self, runbook_base_url: str) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{runbook_base_url}/{self.name}.md",
            },
        }


def recording_rules(c: ObservabilityConfig) -> list[Recording]:
    v = c.vllm_selector
    api = f'{v}, route=~"/v1/.*"'
    requests = f"sum by (namespace, job) (rate(vllm_deploy_requests_total{{{api}}}[5m]))"
    rejected = f'vllm_deploy_rejections_total{{{v}, reason="max_inflight"}}'
    rules = [
        Recording("namespace_job:vllm_deploy_requests:rate5m", requests),
        Recording(
            "namespace_job:vllm_deploy_requests_errors:ratio_rate5m",
            f'sum by (namespace, job) (rate(vllm_deploy_requests_total{{{api}, code=~"5.."}}[5m]))'
            f" / {requests}",
        ),
        Recording(
            "namespace_job:vllm_deploy_rejections:ratio_rate5m",
            f"sum by (namespace, job) (rate({rejected}[5m])) / {requests}",
        ),
        Recording(
            f"{BY.replace(', ', '_')}:vllm_requests_finished:rate5m",
            f"sum by ({BY}) (rate(vllm:request_success_total{{{v}}}[5m]))",
        ),
        Recording(
            f"{BY.replace(', ', '_')}:vllm_generation_tokens:rate5m",
            f"sum by ({BY}) (rate(vllm:generation_tokens_total{{{v}}}[5m]))",
        ),
        Recording(
            f"{BY.replace(', ', '_')}:vllm_prompt_tokens:rate5m",
            f"sum by ({BY}) (rate(vllm:prompt_tokens_total{{{v}}}[5m]))",
        ),
        Recording(
            f"{BY.replace(', ', '_')}:vllm_num_requests_waiting:avg_per_pod",
            f"avg by ({BY}) (vllm:num_requests_waiting{{{v}}})",
        ),
        Recording(
            f"{BY.replace(', ', '_')}:vllm_num_requests_running:sum",
            f"sum by ({BY}) (vllm:num_requests_running{{{v}}})",
        ),
        Recording(
            f"{BY.replace(', ', '_')}:vllm_kv_cache_usage:max_per_pod",
            f"max by ({BY}) (vllm:kv_cache_usage_perc{{{v}}})",
        ),
    ]
    level = BY.replace(", ", "_")
    for metric, short in (
        ("time_to_first_token_seconds", "ttft"),
        ("inter_token_latency_seconds", "itl"),
        ("e2e_request_latency_seconds", "e2e"),
    ):
        for name, q in QUANTILES.items():
            rules.append(
                Recording(
                    f"{level}:vllm_{short}_seconds:{name}_5m",
                    f"histogram_quantile({q},"
                    f" sum by ({BY}, le) (rate(vllm:{metric}_bucket{{{v}}}[5m])))",
                )
            )
    le = _le(c.ttft_slo_seconds)
    for window in SLO_WINDOWS:
        rules.append(
            Recording(
                f"{level}:vllm_ttft_slo_errors:ratio_rate{window}",
                f"1 - (sum by ({BY})"
                f' (rate(vllm:time_to_first_token_seconds_bucket{{{v}, le="{le}"}}[{window}]))'
                f" / sum by ({BY})"
                f" (rate(vllm:time_to_first_token_seconds_count{{{v}}}[{window}])))",
            )
        )
    return rules


def _le(seconds: float) -> str:
    """The ``le`` label of a bucket bound as prometheus_client writes it (2.5 -> "2.5")."""
    return repr(float(seconds))


def alerts(c: ObservabilityConfig) -> list[Alert]:
    v, level = c.vllm_selector, BY.replace(", ", "_")
    container, dcgm = c.ksm_container_selector, c.dcgm_selector
    budget = 1 - c.ttft_slo_objective
    slo = (
        f"{c.ttft_slo_objective:.1%} of requests with a first token within {c.ttft_slo_seconds:g} s"
    )
    pod = "{{ $labels.namespace }}/{{ $labels.pod }}"
    model = "{{ $labels.namespace }}/{{ $labels.model_name }}"
    return [
        Alert(
            "VLLMTargetDown",
            # vLLM listens only once its model is loaded: young pods are
            # VLLMPodNotReadyAfterStart's.
            f"up{{{v}}} == 0 unless on (namespace, pod)"
            f" (time() - kube_pod_start_time{{{c.ksm_pod_selector}}})"
            f" < {c.not_ready_after_start_s}",
            "5m",
            "warning",
            "Prometheus cannot scrape a vLLM pod.",
            f"{pod} has not answered Prometheus' scrapes for 5 minutes.",
        ),
        Alert(
            "VLLMNoReadyReplicas",
            f"kube_deployment_status_replicas_available{{{c.ksm_deployment_selector}}} == 0"
            " and on (namespace, deployment)"
            f" kube_deployment_spec_replicas{{{c.ksm_deployment_selector}}} > 0",
            "2m",
            "critical",
            "A vLLM Deployment has no ready replicas.",
            "{{ $labels.namespace }}/{{ $labels.deployment }} has had no available replica "
            "for 2 minutes: every request to it fails.",
        ),
        Alert(
            "VLLMHighErrorRatio",
            f"namespace_job:vllm_deploy_requests_errors:ratio_rate5m > {c.error_ratio_critical:g}",
            "5m",
            "critical",
            "vLLM answers many requests with 5xx.",
            f"More than {c.error_ratio_critical:.0%} of API requests to "
            "{{ $labels.namespace }}/{{ $labels.job }} failed with 5xx for 5 minutes.",
        ),
        Alert(
            "VLLMTTFTBudgetBurnFast",
            f"{level}:vllm_ttft_slo_errors:ratio_rate1h > {14.4 * budget:g}"
            f" and {level}:vllm_ttft_slo_errors:ratio_rate5m > {14.4 * budget:g}",
            "2m",
            "critical",
            "The time-to-first-token SLO budget is burning fast.",
            f"{model} burns its TTFT error budget ({slo}) over 14.4 times too fast, "
            "over the last hour and the last 5 minutes.",
        ),
        Alert(
            "VLLMTTFTBudgetBurnSlow",
            f"{level}:vllm_ttft_slo_errors:ratio_rate6h > {6 * budget:g}"
            f" and {level}:vllm_ttft_slo_errors:ratio_rate30m > {6 * budget:g}",
            "15m",
            "warning",
            "The time-to-first-token SLO budget is burning.",
            f"{model} burns its TTFT error budget ({slo}) over 6 times too fast, "
            "over the last 6 hours and the last 30 minutes.",
        ),
        Alert(
            "VLLMQueueGrowing",
            f"sum by ({BY}) (deriv(vllm:num_requests_waiting{{{v}}}[15m])) > 0"
            f" and on ({BY}) sum by ({BY}) (vllm:num_requests_waiting{{{v}}}) > 0",
            "10m",
            "warning",
            "Requests queue up faster than vLLM serves them.",
            f"The number of requests waiting for a batch slot in {model} has been growing "
            "(15-minute trend) for 10 minutes.",
        ),
        Alert(
            "VLLMQueueSaturated",
            f"vllm:num_requests_waiting{{{v}}} > {c.queue_saturated_per_pod}",
            "10m",
            "warning",
            "A vLLM pod has a long queue.",
            f"{pod} has had more than {c.queue_saturated_per_pod} requests waiting for 10 minutes.",
        ),
        Alert(
            "VLLMKVCacheSaturated",
            f"vllm:kv_cache_usage_perc{{{v}}} > {c.kv_cache_saturated:g}",
            "10m",
            "warning",
            "A vLLM pod's KV cache is nearly full.",
            f"{pod} has used more than {c.kv_cache_saturated:.0%} of its KV cache for 10 minutes.",
        ),
        Alert(
            "VLLMAdmissionRejectionsHigh",
            f"namespace_job:vllm_deploy_rejections:ratio_rate5m > {c.rejection_ratio_warning:g}",
            "10m",
            "warning",
            "Many requests are refused with 429 (admission control).",
            f"More than {c.rejection_ratio_warning:.0%} of requests to "
            "{{ $labels.namespace }}/{{ $labels.job }} got 429 for 10 minutes.",
        ),
        # The liveness restart follows within a minute and the series goes stale with the pod:
        # look back, so a stall that was acted on is still reported.
        Alert(
            "VLLMEngineStalled",
            f"max_over_time(vllm_deploy_engine_stalled{{{v}}}[5m]) == 1",
            "0s",
            "critical",
            "A vLLM engine produces no tokens.",
            f"{pod} has had requests in flight but produced no token for the watchdog's stall "
            "period; its liveness probe fails.",
        ),
        Alert(
            "VLLMDrainNearDeadline",
            f"(time() - vllm_deploy_drain_started_timestamp_seconds{{{v}}})"
            f" > {c.drain_deadline_share:g} * vllm_deploy_drain_deadline_seconds{{{v}}}"
            f" and vllm_deploy_draining{{{v}}} == 1 and vllm_deploy_requests_in_flight{{{v}}} > 0",
            "0s",
            "warning",
            "A draining vLLM pod is about to cut requests.",
            f"{pod} is past {c.drain_deadline_share:.0%} of its drain deadline with requests "
            "still in flight.",
        ),
        Alert(
            "VLLMPodRestarting",
            f"increase(kube_pod_container_status_restarts_total{{{container}}}[30m])"
            f" > {c.restarts_in_30m}",
            "0s",
            "warning",
            "A vLLM container restarts repeatedly.",
            f"{pod} restarted more than {c.restarts_in_30m} times in 30 minutes.",
        ),
        Alert(
            "VLLMPodOOMKilled",
            "kube_pod_container_status_last_terminated_reason"
            f'{{{container}, reason="OOMKilled"}} == 1'
            f" and on (namespace, pod, container)"
            f" increase(kube_pod_container_status_restarts_total{{{container}}}[10m]) > 0",
            "0s",
            "warning",
            "A vLLM container was killed for using too much memory.",
            f"{pod} was OOMKilled and restarted in the last 10 minutes.",
        ),
        Alert(
            "VLLMPodNotReadyAfterStart",
            f"(time() - kube_pod_start_time{{{c.ksm_pod_selector}}}) > {c.not_ready_after_start_s}"
            " and on (namespace, pod)"
            f' kube_pod_status_ready{{{c.ksm_pod_selector}, condition="true"}} == 0',
            "5m",
            "warning",
            "A vLLM pod is still not ready long after it started.",
            f"{pod} started over {c.not_ready_after_start_s // 60} minutes ago and is not ready: "
            "the model load is slow or failing.",
        ),
        Alert(
            "VLLMHPAAtMaxReplicas",
            f"kube_horizontalpodautoscaler_status_current_replicas{{{c.ksm_hpa_selector}}}"
            " >= on (namespace, horizontalpodautoscaler)"
            f" kube_horizontalpodautoscaler_spec_max_replicas{{{c.ksm_hpa_selector}}}",
            "30m",
            "warning",
            "A vLLM autoscaler is pinned at its maximum.",
            "{{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} has run at maxReplicas "
            "for 30 minutes: demand exceeds the configured ceiling.",
        ),
        Alert(
            "VLLMGPUMemoryHigh",
            f"max by (namespace, pod) (DCGM_FI_DEV_FB_USED{{{dcgm}}}"
            f" / (DCGM_FI_DEV_FB_USED{{{dcgm}}} + DCGM_FI_DEV_FB_FREE{{{dcgm}}}))"
            f" > {c.gpu_memory_high:g}",
            "15m",
            "warning",
            "A vLLM pod's GPU memory is nearly exhausted.",
            f"A GPU of {pod} has had more than {c.gpu_memory_high:.0%} of its memory in use "
            "for 15 minutes.",
        ),
        Alert(
            "VLLMGPUUtilizationLow",
            f"avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{{{dcgm}}})"
            f" < {c.gpu_utilisation_low_percent:g}"
            # `unless ... >=`: a pod that never served a request has no request series at all.
            f" unless on (namespace, pod) sum by (namespace, pod)"
            f' (rate(vllm_deploy_requests_total{{{v}, route=~"/v1/.*"}}[15m]))'
            f" >= {c.idle_requests_per_s:g}",
            "1h",
            "info",
            "A vLLM pod's GPUs are mostly idle.",
            f"{pod} has used its GPUs under {c.gpu_utilisation_low_percent:g}% for an hour "
            "while serving almost no requests: capacity that could be scaled down.",
        ),
    ]


def rules_document(c: ObservabilityConfig) -> dict[str, Any]:
    """The ``groups:`` document for Prometheus (and the PrometheusRule's ``spec``).

    One group: rules in a group are evaluated in order, so the alerts read recording rules
    of the same evaluation, never the previous one (separate groups run independently).
    """
    recordings = [{"record": r.record, "expr": r.expr} for r in recording_rules(c)]
    return {
        "groups": [
            {
                "name": "vllm",
                "rules": [*recordings, *(a.rule(c.runbook_base_url) for a in alerts(c))],
            }
        ]
    }
