"""Settings of `vllm-deploy serve`, validated once at start-up; shared by the launcher and
engines."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EngineName", "FaultSettings", "SchedulingPolicy", "ServeConfig", "SimulatedSettings"]

EngineName = Literal["reference", "simulated", "vllm"]
SchedulingPolicy = Literal["fcfs", "priority"]
DEFAULT_MAX_NUM_SEQS = 16


class FaultSettings(BaseModel):
    """Fault injection of the simulated engine; changeable at run time via the admin route."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    hang: bool = False
    slowdown: Annotated[float, Field(ge=1.0, le=1000.0)] = 1.0


class SimulatedSettings(BaseModel):
    """The simulated engine's latency model (see docs/engines.md)."""

    model_config = ConfigDict(extra="forbid")

    ttft_ms: Annotated[float, Field(ge=0)] = 50.0
    itl_ms: Annotated[float, Field(ge=0)] = 10.0
    prefill_ms_per_token: Annotated[float, Field(ge=0)] = 0.05
    load_factor: Annotated[float, Field(ge=0)] = 1.0
    startup_s: Annotated[float, Field(ge=0)] = 0.0
    output_tokens: Annotated[int, Field(ge=1)] = 128
    faults: FaultSettings = FaultSettings()


class ServeConfig(BaseModel):
    """Usage: ``ServeConfig(engine="simulated", model="sim")``."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineName = "reference"
    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    max_model_len: Annotated[int, Field(ge=16)] | None = None
    # None: 16 on the GPU-free engines, vLLM's own default on vllm.
    max_num_seqs: Annotated[int, Field(ge=1)] | None = None
    kv_cache_tokens: Annotated[int, Field(ge=1)] | None = None
    max_request_body_bytes: Annotated[int, Field(ge=1024)] = 32 * 1024 * 1024
    shutdown_timeout: Annotated[int, Field(ge=0)] = 30
    # Wrap the engine in ProductionMiddleware (probes, drain, auth, admission, logs, traces).
    middleware: bool = True
    # Browser origins allowed cross-origin access (vLLM's --allowed-origins; none by default).
    allowed_origins: list[str] = []
    # As vLLM's flags: "priority" orders the waiting queue by the requests' `priority`.
    scheduling_policy: SchedulingPolicy = "fcfs"
    # The most log-probabilities a request may ask for per token (-1: the vocabulary).
    max_logprobs: Annotated[int, Field(ge=-1)] = 20
    sim: SimulatedSettings = SimulatedSettings()

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.model

    @property
    def batch_size(self) -> int:
        """Running-batch size of the GPU-free engines."""
        return self.max_num_seqs or DEFAULT_MAX_NUM_SEQS
