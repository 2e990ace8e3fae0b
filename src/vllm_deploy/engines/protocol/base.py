"""What every request model shares with vLLM's ``OpenAIBaseModel``: unknown fields are ignored.

vLLM 0.33.0 (vllm/entrypoints/serve/engine/protocol.py) accepts fields it does not declare
and only logs them, so clients sending OpenAI fields vLLM lacks (``best_of``, ``store``,
``metadata`` ...) are served. The GPU-free engines do the same, and log each ignored name
once, at INFO, so a typo can still be found.
"""

from __future__ import annotations

import logging
import random
from typing import Annotated, Any, ClassVar, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_STOP_STRINGS",
    "StopParam",
    "StreamOptions",
    "TopLogprobsParam",
    "VllmModel",
    "log_ignored_fields",
    "random_id",
]

logger = logging.getLogger("vllm_deploy.engine")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_STOP_STRINGS = 4  # VLLM_MAX_STOP_STRINGS' default
# vLLM removed these; it warns that they are ignored (serve/engine/protocol.py).
_REMOVED_GUIDED_FIELDS = frozenset(
    {
        "guided_json",
        "guided_regex",
        "guided_choice",
        "guided_grammar",
        "guided_decoding_backend",
        "guided_whitespace_pattern",
    }
)

StopParam: TypeAlias = str | Annotated[list[str], Field(max_length=MAX_STOP_STRINGS)] | None
# `top_logprobs` is nullable in the OpenAI spec; null means the same as omitted.
TopLogprobsParam: TypeAlias = Annotated[
    int, BeforeValidator(lambda v: 0 if v is None else v, json_schema_input_type=int | None)
]


def random_id() -> str:
    """32 hex digits, as vLLM's ``random_uuid``; not secret, so no system call per request."""
    return f"{random.getrandbits(128):032x}"


class VllmModel(BaseModel):
    """A request model: vLLM's field set; undeclared fields are dropped, not refused."""

    model_config = ConfigDict(extra="ignore")


class StreamOptions(VllmModel):
    include_usage: bool | None = False
    continuous_usage_stats: bool | None = False


class _IgnoredFields:
    """Names already logged, so each shows once per process."""

    seen: ClassVar[set[str]] = set()


def log_ignored_fields(data: dict[str, Any], model: type[BaseModel]) -> None:
    """Logs the fields of ``data`` that ``model`` does not declare (vLLM ignores them too)."""
    extra = data.keys() - model.model_fields.keys()
    if removed := extra & _REMOVED_GUIDED_FIELDS:
        logger.warning(
            "Request contains the removed guided-decoding field(s) %s, which are ignored; "
            "output will NOT be constrained (as in vLLM 0.33.0).",
            sorted(removed),
        )
    new = extra - _IgnoredFields.seen
    if new:
        _IgnoredFields.seen |= new
        logger.info("request fields ignored, as vLLM 0.33.0 ignores them: %s", sorted(new))
