"""ProductionMiddleware settings, from ``VLLM_DEPLOY_*`` environment variables (a ConfigMap)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "MiddlewareSettings", "SettingsError", "load_settings"]

ENV_PREFIX = "VLLM_DEPLOY_"


class SettingsError(ValueError):
    """One line naming the variable, its value and the expected form."""


class MiddlewareSettings(BaseSettings):
    """Usage: ``load_settings()`` (environment) or ``MiddlewareSettings(max_inflight=8)``.

    Each field is read from ``VLLM_DEPLOY_<FIELD>``; docs/runtime.md lists them all.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Comma-separated API keys; empty means no authentication.
    api_key: str = Field(default="", repr=False)
    # A file with one key per line (a mounted Secret); merged with api_key.
    api_key_file: Path | None = None
    # Requests in flight per pod beyond which new ones get 429; 0 means no limit.
    max_inflight: Annotated[int, Field(ge=0)] = 256
    retry_after_s: Annotated[int, Field(ge=1)] = 1
    # Drain: a quiet period with nothing in flight and no arrival ends it; the timeout caps it.
    drain_quiet_s: Annotated[float, Field(ge=0)] = 5.0
    drain_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    # In-flight requests but no token produced for this long: the engine is stalled.
    watchdog_stall_s: Annotated[float, Field(gt=0)] = 180.0
    # How long readiness waits for the engine's own /health.
    engine_health_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Access-log lines for probes and /metrics too (off: they would drown the rest).
    log_probes: bool = False


def load_settings() -> MiddlewareSettings:
    """Settings from the environment; a bad value raises SettingsError with one line."""
    try:
        settings = MiddlewareSettings()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = ENV_PREFIX + ".".join(str(p) for p in err["loc"]).upper()
        raise SettingsError(f"{name} has value {err.get('input')!r}: {err['msg']}") from None
    if settings.api_key_file is not None and not settings.api_key_file.is_file():
        raise SettingsError(
            f"{ENV_PREFIX}API_KEY_FILE has value '{settings.api_key_file}': not a readable file"
        )
    return settings
