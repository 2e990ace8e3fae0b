"""OpenAI-compatible request and response models shared by the GPU-free engines.

Requests reject unknown fields (a typo must not be silently ignored) and name the field
in the error. Parameters that OpenAI or vLLM define but our engines do not implement are
listed in ``UNSUPPORTED_PARAMETERS`` and refused with 400 instead of being ignored.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "UNSUPPORTED_PARAMETERS",
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "SamplingFields",
    "StreamOptions",
    "model_card",
]

# Parameters that exist in the OpenAI/vLLM API but that the GPU-free engines do not implement.
UNSUPPORTED_PARAMETERS: frozenset[str] = frozenset(
    {
        "best_of",
        "echo",
        "frequency_penalty",
        "functions",
        "function_call",
        "logit_bias",
        "logprobs",
        "presence_penalty",
        "response_format",
        "suffix",
        "tool_choice",
        "tools",
        "top_logprobs",
    }
)

# vLLM and OpenAI clamp to this range; a larger value is a client bug, not a long request.
_MAX_TOKENS_LIMIT = 1 << 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: bool = False
    continuous_usage_stats: bool = False

    @field_validator("continuous_usage_stats")
    @classmethod
    def _refuse_continuous_usage(cls, value: bool) -> bool:
        if value:
            raise ValueError("not supported by this engine")
        return value


class SamplingFields(_Strict):
    """Fields common to completions and chat completions."""

    model: str | None = None  # as in vLLM: missing or empty means the served model
    max_tokens: Annotated[int, Field(ge=1, le=_MAX_TOKENS_LIMIT)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    top_k: Annotated[int, Field(ge=-1)] = -1
    seed: int | None = None
    stop: str | list[str] | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = False
    user: str | None = None

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> SamplingFields:
        if self.stream_options is not None and not self.stream:
            raise ValueError("'stream_options' is only allowed when 'stream' is true")
        return self

    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        stops = [self.stop] if isinstance(self.stop, str) else self.stop
        return [s for s in stops if s]


class CompletionRequest(SamplingFields):
    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[int], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1, le=_MAX_TOKENS_LIMIT)] | None = 16


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "developer"]
    content: str
    name: str | None = None


class ChatCompletionRequest(SamplingFields):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: Annotated[int, Field(ge=1, le=_MAX_TOKENS_LIMIT)] | None = None
    add_generation_prompt: bool = True

    def effective_max_tokens(self) -> int | None:
        return (
            self.max_completion_tokens
            if self.max_completion_tokens is not None
            else self.max_tokens
        )


def model_card(
    served_name: str, root: str, max_model_len: int, created: int | None = None
) -> dict[str, Any]:
    """The `/v1/models` entry, in vLLM's shape."""
    return {
        "id": served_name,
        "object": "model",
        "created": created if created is not None else int(time.time()),
        "owned_by": "vllm",
        "root": root,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [],
    }
