"""GPU-free engines with vLLM's HTTP and metrics contract, chosen from ``ENGINES``."""

from __future__ import annotations

from vllm_deploy.engines.app import EngineEntry, build_app
from vllm_deploy.engines.base import Engine
from vllm_deploy.engines.scheduler import Scheduler
from vllm_deploy.serve_config import ServeConfig

__all__ = ["ENGINES", "EngineEntry", "build_app"]


def _reference_len(config: ServeConfig) -> int:
    from vllm_deploy.engines.reference import default_max_model_len

    return default_max_model_len(config)


def _reference(config: ServeConfig, max_model_len: int, scheduler: Scheduler) -> Engine:
    # Imported here so the simulated engine runs without torch installed.
    from vllm_deploy.engines.reference import ReferenceEngine

    return ReferenceEngine(config)


def _simulated(config: ServeConfig, max_model_len: int, scheduler: Scheduler) -> Engine:
    from vllm_deploy.engines.simulated import SimulatedEngine

    return SimulatedEngine(config, scheduler)


def _simulated_len(config: ServeConfig) -> int:
    from vllm_deploy.engines.simulated.engine import DEFAULT_MAX_MODEL_LEN

    return DEFAULT_MAX_MODEL_LEN


ENGINES: dict[str, EngineEntry] = {
    "reference": EngineEntry(default_max_model_len=_reference_len, build=_reference),
    "simulated": EngineEntry(default_max_model_len=_simulated_len, build=_simulated),
}
