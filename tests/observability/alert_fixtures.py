"""For every alert: input series that make it true from a known minute, and its labels."""

from __future__ import annotations

from dataclasses import dataclass

POD = 'job="vllm", namespace="llm", pod="vllm-llama-0"'
ENGINE = f'{POD}, model_name="llama", engine="0"'
CONTAINER = 'namespace="llm", pod="vllm-llama-0", container="vllm"'
DEPLOYMENT = 'namespace="llm", deployment="vllm-llama"'
HPA = 'namespace="llm", horizontalpodautoscaler="vllm-llama"'


@dataclass(frozen=True)
class Fixture:
    series: dict[str, str]  # series selector -> promtool values
    true_from_m: int  # first evaluation (minutes) at which the alert's expression holds
    labels: dict[str, str]  # the alert's labels besides severity
    minutes: int = 40


FIXTURES: dict[str, Fixture] = {
    # The pod started long before (time() - start >= 1800 s from the first evaluation).
    "VLLMTargetDown": Fixture(
        {
            f"up{{{POD}}}": "0x40",
            'kube_pod_start_time{namespace="llm", pod="vllm-llama-0"}': "-2000x40",
        },
        0,
        {"job": "vllm", "namespace": "llm", "pod": "vllm-llama-0"},
    ),
    "VLLMNoReadyReplicas": Fixture(
        {
            f"kube_deployment_status_replicas_available{{{DEPLOYMENT}}}": "0x40",
            f"kube_deployment_spec_replicas{{{DEPLOYMENT}}}": "2x40",
        },
        0,
        {"namespace": "llm", "deployment": "vllm-llama"},
    ),
    "VLLMHighErrorRatio": Fixture(
        {
            f'vllm_deploy_requests_total{{{POD}, route="/v1/completions", code="200"}}': "0+90x40",
            f'vllm_deploy_requests_total{{{POD}, route="/v1/completions", code="500"}}': "0+10x40",
        },
        1,
        {"namespace": "llm", "job": "vllm"},
    ),
    "VLLMTTFTBudgetBurnFast": Fixture(
        {
            f'vllm:time_to_first_token_seconds_bucket{{{ENGINE}, le="2.5"}}': "0+50x40",
            f"vllm:time_to_first_token_seconds_count{{{ENGINE}}}": "0+100x40",
        },
        1,
        {"namespace": "llm", "model_name": "llama"},
    ),
    "VLLMTTFTBudgetBurnSlow": Fixture(
        {
            f'vllm:time_to_first_token_seconds_bucket{{{ENGINE}, le="2.5"}}': "0+50x40",
            f"vllm:time_to_first_token_seconds_count{{{ENGINE}}}": "0+100x40",
        },
        1,
        {"namespace": "llm", "model_name": "llama"},
    ),
    "VLLMQueueGrowing": Fixture(
        {f"vllm:num_requests_waiting{{{ENGINE}}}": "0+1x40"},
        1,
        {"namespace": "llm", "model_name": "llama"},
    ),
    "VLLMQueueSaturated": Fixture(
        {f"vllm:num_requests_waiting{{{ENGINE}}}": "60x40"},
        0,
        {
            "job": "vllm",
            "namespace": "llm",
            "pod": "vllm-llama-0",
            "model_name": "llama",
            "engine": "0",
        },
    ),
    "VLLMKVCacheSaturated": Fixture(
        {f"vllm:kv_cache_usage_perc{{{ENGINE}}}": "0.97x40"},
        0,
        {
            "job": "vllm",
            "namespace": "llm",
            "pod": "vllm-llama-0",
            "model_name": "llama",
            "engine": "0",
        },
    ),
    "VLLMAdmissionRejectionsHigh": Fixture(
        {
            f'vllm_deploy_rejections_total{{{POD}, reason="max_inflight"}}': "0+20x40",
            f'vllm_deploy_requests_total{{{POD}, route="/v1/completions", code="429"}}': "0+20x40",
            f'vllm_deploy_requests_total{{{POD}, route="/v1/completions", code="200"}}': "0+80x40",
        },
        1,
        {"namespace": "llm", "job": "vllm"},
    ),
    "VLLMEngineStalled": Fixture(
        {f"vllm_deploy_engine_stalled{{{POD}}}": "0 0 1x38"},
        2,
        {"job": "vllm", "namespace": "llm", "pod": "vllm-llama-0"},
    ),
    "VLLMDrainNearDeadline": Fixture(
        {
            f"vllm_deploy_drain_started_timestamp_seconds{{{POD}}}": "0x40",
            f"vllm_deploy_drain_deadline_seconds{{{POD}}}": "100x40",
            f"vllm_deploy_draining{{{POD}}}": "1x40",
            f"vllm_deploy_requests_in_flight{{{POD}}}": "3x40",
        },
        2,
        {"job": "vllm", "namespace": "llm", "pod": "vllm-llama-0"},
    ),  # time() passes 80 s at 2m
    "VLLMPodRestarting": Fixture(
        {f"kube_pod_container_status_restarts_total{{{CONTAINER}}}": "0+1x40"},
        3,
        {"namespace": "llm", "pod": "vllm-llama-0", "container": "vllm"},
    ),
    "VLLMPodOOMKilled": Fixture(
        {
            "kube_pod_container_status_last_terminated_reason"
            f'{{{CONTAINER}, reason="OOMKilled"}}': "1x40",
            f"kube_pod_container_status_restarts_total{{{CONTAINER}}}": "0 0 1+0x38",
        },
        2,
        {"namespace": "llm", "pod": "vllm-llama-0", "container": "vllm", "reason": "OOMKilled"},
    ),
    "VLLMPodNotReadyAfterStart": Fixture(
        {
            'kube_pod_start_time{namespace="llm", pod="vllm-llama-0"}': "0x40",
            'kube_pod_status_ready{namespace="llm", pod="vllm-llama-0", condition="true"}': "0x40",
        },
        31,
        {"namespace": "llm", "pod": "vllm-llama-0"},
        minutes=45,
    ),  # time() passes 1800 s at 31m
    "VLLMHPAAtMaxReplicas": Fixture(
        {
            f"kube_horizontalpodautoscaler_status_current_replicas{{{HPA}}}": "5x40",
            f"kube_horizontalpodautoscaler_spec_max_replicas{{{HPA}}}": "5x40",
        },
        0,
        {"namespace": "llm", "horizontalpodautoscaler": "vllm-llama"},
    ),
    "VLLMGPUMemoryHigh": Fixture(
        {
            f'DCGM_FI_DEV_FB_USED{{{CONTAINER}, gpu="0"}}': "79000x40",
            f'DCGM_FI_DEV_FB_FREE{{{CONTAINER}, gpu="0"}}': "1000x40",
        },
        0,
        {"namespace": "llm", "pod": "vllm-llama-0"},
    ),
    "VLLMGPUUtilizationLow": Fixture(
        # No request series at all: a pod that never served (the counter is created lazily).
        {f'DCGM_FI_DEV_GPU_UTIL{{{CONTAINER}, gpu="0"}}': "5x90"},
        0,
        {"namespace": "llm", "pod": "vllm-llama-0"},
        minutes=90,
    ),
}
