"""ProductionMiddleware settings, from ``VLLMDEPLOY_*`` environment variables (a ConfigMap)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from vllm_deploy.contract import DEFAULT_DRAIN_TIMEOUT_S, ENV_PREFIX
from vllm_deploy.runtime.legacy_env import LegacyNameError, translate_legacy

__all__ = ["MiddlewareSettings", "SettingsError", "load_settings"]


class SettingsError(ValueError):
    """One line naming the variable, its value and the expected form."""


class MiddlewareSettings(BaseSettings):
    """Usage: ``load_settings()`` (environment) or ``MiddlewareSettings(max_inflight=8)``.

    Each field is read from ``VLLMDEPLOY_<FIELD>``; docs/runtime.md lists them all.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Comma-separated API keys; empty means no authentication.
    api_key: str = Field(default="", repr=False)
    # A file with one key per line (a mounted Secret; `#` starts a comment line); merged with
    # api_key.
    api_key_file: Path | None = None
    # Required (header X-VLLM-Deploy-Admin-Token) by the admin routes when set; loopback alone
    # is no boundary when a proxy sidecar shares the pod's network namespace.
    admin_token: str = Field(default="", repr=False)
    # The admin token from a file (a mounted Secret); wins over admin_token when set.
    admin_token_file: Path | None = None
    # Requests in flight per pod beyond which new ones get 429; 0 means no limit.
    max_inflight: Annotated[int, Field(ge=0)] = 256
    retry_after_s: Annotated[int, Field(ge=1)] = 1
    # Drain: a quiet period with nothing in flight and no arrival ends it; the timeout caps it.
    drain_quiet_s: Annotated[float, Field(ge=0)] = 5.0
    drain_timeout_s: Annotated[float, Field(gt=0)] = float(DEFAULT_DRAIN_TIMEOUT_S)
    # In-flight requests but no token produced for this long: the engine is stalled.
    watchdog_stall_s: Annotated[float, Field(gt=0)] = 180.0
    # How long readiness waits for the engine's own /health.
    engine_health_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Access-log lines for probes and /metrics too (off: they would drown the rest).
    log_probes: bool = False
    # The longest a finished request's access line and request metrics wait, to be written
    # together with others' (0: each at once); /metrics always shows every finished request.
    flush_interval_s: Annotated[float, Field(ge=0, le=10)] = 0.05


def load_settings(environ: Mapping[str, str] | None = None) -> MiddlewareSettings:
    """Settings from the environment; a bad value raises SettingsError with one line.

    Unknown ``VLLMDEPLOY_*`` variables are errors too (a misspelt API key variable would
    otherwise switch authentication off without a word), and so is a key file that cannot
    be read or holds no key. The deprecated old names are read too, with a warning.
    """
    environ = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in MiddlewareSettings.model_fields}
    try:
        environ = translate_legacy(environ, ENV_PREFIX, known)
    except LegacyNameError as exc:
        raise SettingsError(str(exc)) from None
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            raise SettingsError(f"{name} is not a setting; known: {', '.join(sorted(known))}")
    try:
        settings = MiddlewareSettings.model_validate(_from_env(environ))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = ENV_PREFIX + ".".join(str(p) for p in err["loc"]).upper()
        raise SettingsError(f"{name} has value {err.get('input')!r}: {err['msg']}") from None
    if settings.admin_token_file is not None:
        token = _read_file("ADMIN_TOKEN_FILE", settings.admin_token_file).strip()
        if not token:
            raise SettingsError(
                f"{ENV_PREFIX}ADMIN_TOKEN_FILE has value '{settings.admin_token_file}': it is empty"
            )
        settings = settings.model_copy(update={"admin_token": token})
    if settings.api_key_file is not None:
        lines = _read_file("API_KEY_FILE", settings.api_key_file).splitlines()
        if not any(line.strip() and not line.strip().startswith("#") for line in lines):
            raise SettingsError(
                f"{ENV_PREFIX}API_KEY_FILE has value '{settings.api_key_file}': it holds no key"
            )
    return settings


def _read_file(variable: str, path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(
            f"{ENV_PREFIX}{variable} has value '{path}': cannot be read ({exc.__class__.__name__})"
        ) from None


def _from_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name.removeprefix(ENV_PREFIX).lower(): value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX)
    }
