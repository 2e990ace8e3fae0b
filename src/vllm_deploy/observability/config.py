"""The one config block behind every rule, alert and dashboard: selectors and thresholds."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vllm_deploy.contract import TIME_TO_FIRST_TOKEN_BUCKETS

__all__ = ["ObservabilityConfig"]


class ObservabilityConfig(BaseModel):
    """Usage: ``ObservabilityConfig(ttft_slo_seconds=1.0)``; defaults match the examples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Series selectors (PromQL label matchers without braces).
    vllm_selector: str = 'job="vllm"'
    ksm_container_selector: str = 'container="vllm"'
    ksm_pod_selector: str = 'pod=~"vllm-.*"'
    ksm_deployment_selector: str = 'deployment=~"vllm-.*"'
    ksm_hpa_selector: str = 'horizontalpodautoscaler=~"(keda-hpa-)?vllm-.*"'
    dcgm_selector: str = 'container="vllm"'
    # Where the runbooks live; each alert links <base>/<AlertName>.md.
    runbook_base_url: str = "https://github.com/vllm-deploy/vllm-deploy/blob/main/docs/runbooks"

    # SLO: this share of requests gets its first token within this time (a TTFT bucket bound).
    ttft_slo_seconds: float = 2.5
    ttft_slo_objective: Annotated[float, Field(gt=0, lt=1)] = 0.99
    error_ratio_critical: Annotated[float, Field(gt=0, lt=1)] = 0.05
    rejection_ratio_warning: Annotated[float, Field(gt=0, lt=1)] = 0.05
    queue_saturated_per_pod: Annotated[int, Field(ge=1)] = 50
    kv_cache_saturated: Annotated[float, Field(gt=0, le=1)] = 0.95
    drain_deadline_share: Annotated[float, Field(gt=0, lt=1)] = 0.8
    restarts_in_30m: Annotated[int, Field(ge=1)] = 2
    # Above the rendered startup budget plus a first download (960 s + 900 s for the prod example).
    not_ready_after_start_s: Annotated[int, Field(ge=60)] = 1800
    gpu_memory_high: Annotated[float, Field(gt=0, le=1)] = 0.98
    gpu_utilisation_low_percent: Annotated[float, Field(ge=0, le=100)] = 10.0
    idle_requests_per_s: Annotated[float, Field(ge=0)] = 0.1

    @field_validator("ttft_slo_seconds")
    @classmethod
    def _is_a_bucket_bound(cls, value: float) -> float:
        # The SLO ratio reads the bucket with this bound; any other value has no series.
        if value not in TIME_TO_FIRST_TOKEN_BUCKETS:
            raise ValueError(
                f"must be a bound of vLLM's TTFT histogram: {TIME_TO_FIRST_TOKEN_BUCKETS}"
            )
        return value
