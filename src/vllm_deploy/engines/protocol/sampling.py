"""The request fields /v1/completions and /v1/chat/completions share, with vLLM's types.

Field for field as vLLM 0.33.0 declares them (completion/protocol.py, chat_completion/
protocol.py, generate/base/protocol.py), with the ``mode="before"`` validators both
request models have, and their messages. docs/engines.md says what each field does here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.protocol.base import (
    INT64_MAX,
    INT64_MIN,
    StopParam,
    StreamOptions,
    VllmModel,
    random_id,
)

__all__ = [
    "JsonSchemaFormat",
    "RepetitionDetection",
    "ResponseFormat",
    "SamplingRequest",
    "StructuralTagFormat",
    "StructuredOutputs",
    "check_cache_salt",
]

_CACHE_SALT_FORBIDDEN = frozenset("@/\\\x00")
_MAX_CACHE_SALT_LENGTH = 128


class JsonSchemaFormat(VllmModel):
    name: str
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(VllmModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StructuralTagFormat(VllmModel):
    type: Literal["structural_tag"]
    format: Any = None
    structures: list[dict[str, Any]] | None = None
    triggers: list[str] | None = None


class StructuredOutputs(VllmModel):
    """vLLM's ``StructuredOutputsParams``: exactly one constraint kind."""

    json_: str | dict[str, Any] | None = Field(default=None, alias="json")
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None
    disable_any_whitespace: bool = False
    disable_additional_properties: bool = False
    whitespace_pattern: str | None = None
    structural_tag: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StructuredOutputs:
        kinds = (
            self.json_,
            self.regex,
            self.choice,
            self.grammar,
            self.json_object,
            self.structural_tag,
        )
        count = sum(k is not None for k in kinds)
        if count != 1:
            which = "multiple are" if count > 1 else "none are"
            raise VllmValidationError(
                f"You {'can only' if count > 1 else 'must'} use one kind of structured outputs "
                f"constraint but {which} specified: {self.model_dump(by_alias=True)}"
            )
        return self


class RepetitionDetection(VllmModel):
    """vLLM's ``RepetitionDetectionParams`` (sampling_params.py), with its checks."""

    max_pattern_size: int = 0
    min_pattern_size: int = 0
    min_count: int = 0

    @model_validator(mode="after")
    def _check(self) -> RepetitionDetection:
        if (
            self.max_pattern_size < 0
            or self.min_pattern_size < 0
            or self.min_pattern_size > self.max_pattern_size
        ):
            raise VllmValidationError(
                "max_pattern_size, min_pattern_size must be >=0, with min_pattern_size <= "
                "max_pattern_size. Set both to 0 to disable repetitive pattern detection."
            )
        if self.max_pattern_size > 0 and self.min_count < 2:
            raise VllmValidationError(
                "min_count must be >= 2 to detect repetitive patterns in engine output. If "
                "you do not wish to detect repetitive patterns, set max_pattern_size to 0."
            )
        return self


def check_cache_salt(salt: Any) -> None:
    """vLLM's ``validate_cache_salt`` (generate/base/protocol.py)."""
    if salt is None:
        return
    if not isinstance(salt, str) or not salt:
        raise VllmValidationError(
            "Parameter 'cache_salt' must be a non-empty string if provided.",
            parameter="cache_salt",
        )
    if len(salt) > _MAX_CACHE_SALT_LENGTH or any(c in _CACHE_SALT_FORBIDDEN for c in salt):
        raise VllmValidationError(
            "Parameter 'cache_salt' must be at most 128 characters and must not contain "
            "'@', '/', '\\\\', or NUL.",
            parameter="cache_salt",
        )


def _thinking_budget(value: Any) -> int | None:
    """vLLM's ``validate_thinking_token_budget``."""
    if value is None:
        return None
    if isinstance(value, bool | float) or not isinstance(value, int) or value < -1:
        raise VllmValidationError(
            "`thinking_token_budget` must be a non-negative integer or -1 for unlimited.",
            parameter="thinking_token_budget",
            value=value,
        )
    return None if value == -1 else value


class SamplingRequest(VllmModel):
    """The sampling parameters and vLLM extensions both generation endpoints take."""

    model: str | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    presence_penalty: float | None = None
    seed: Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | None = None
    stop: StopParam = []
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    response_format: ResponseFormat | StructuralTagFormat | None = None
    # vLLM's sampling-params section.
    use_beam_search: bool = False
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    watermarking: bool | None = None
    length_penalty: float = 1.0
    stop_token_ids: list[int] | None = []
    include_stop_str_in_output: bool = False
    ignore_eos: bool = False
    min_tokens: int = 0
    skip_special_tokens: bool | None = None
    spaces_between_special_tokens: bool = True
    truncate_prompt_tokens: Annotated[int, Field(ge=-1, le=INT64_MAX)] | None = None
    truncation_side: Literal["left", "right"] | None = None
    allowed_token_ids: list[int] | None = None
    prompt_logprobs: int | None = None
    logprob_token_ids: list[int] | None = None
    bad_words: list[str] = []
    # vLLM's extra-params section.
    structured_outputs: StructuredOutputs | None = None
    priority: int = Field(default=0, ge=INT64_MIN, le=INT64_MAX)
    request_id: str = Field(default_factory=random_id)
    session_id: str | None = None
    return_tokens_as_token_ids: bool | None = None
    return_token_ids: bool | None = None
    return_weight_versions: bool = False
    routed_experts_prompt_start: int = Field(default=0, ge=0)
    return_token_offsets: bool | None = False
    mm_payload: Literal["tensors", "none"] = "tensors"
    return_mm_kwargs: bool | None = None
    cache_salt: str | None = Field(default=None, min_length=1, max_length=1024)
    kv_transfer_params: dict[str, Any] | None = None
    ec_transfer_params: dict[str, Any] | None = None
    vllm_xargs: dict[str, str | int | float | list[str | int | float]] | None = None
    repetition_detection: RepetitionDetection | None = None
    thinking_token_budget: int | None = None
    stream_interval: Annotated[int, Field(ge=1)] | None = None

    @field_validator("thinking_token_budget", mode="before")
    @classmethod
    def _check_thinking_budget(cls, value: Any) -> int | None:
        return _thinking_budget(value)

    @model_validator(mode="before")
    @classmethod
    def _check_cache_salt(cls, data: Any) -> Any:
        if isinstance(data, dict):
            check_cache_salt(data.get("cache_salt"))
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_response_format(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(rf := data.get("response_format"), dict):
            return data
        if rf.get("type") == "json_schema" and rf.get("json_schema") is None:
            raise VllmValidationError(
                "When response_format type is 'json_schema', the 'json_schema' field must be "
                "provided.",
                parameter="response_format",
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_stream_options(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("stream_options") and not data.get("stream"):
            raise VllmValidationError(
                "Stream options can only be defined when `stream=True`.",
                parameter="stream_options",
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_prompt_logprobs(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("logprob_token_ids") and data.get("use_beam_search"):
            raise VllmValidationError(
                "`logprob_token_ids` is not supported with beam search.",
                parameter="logprob_token_ids",
            )
        if (value := data.get("prompt_logprobs")) is not None:
            if not isinstance(value, int | float):
                raise VllmValidationError(
                    "`prompt_logprobs` must be an integer.",
                    parameter="prompt_logprobs",
                    value=value,
                )
            if data.get("stream") and (value > 0 or value == -1):
                raise VllmValidationError(
                    "`prompt_logprobs` are not available when `stream=True`.",
                    parameter="prompt_logprobs",
                )
            if value < 0 and value != -1:
                raise VllmValidationError(
                    "`prompt_logprobs` must be a positive value or -1.",
                    parameter="prompt_logprobs",
                    value=value,
                )
        return data

    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)
