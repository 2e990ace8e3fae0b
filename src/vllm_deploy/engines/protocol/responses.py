"""``POST /v1/responses``: vLLM 0.33.0's ``ResponsesRequest`` (openai/responses/protocol.py).

Every field vLLM declares, with its before-validators. Input items are kept as dicts; the
route renders message items (text content) and refuses other kinds. Sampling maps onto the
completions' fields as vLLM's ``to_sampling_params`` does (``as_sampling_request``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.protocol.base import (
    INT64_MAX,
    INT64_MIN,
    StopParam,
    TopLogprobsParam,
    VllmModel,
    random_id,
)
from vllm_deploy.engines.protocol.sampling import (
    SamplingRequest,
    StructuredOutputs,
    check_cache_salt,
)

__all__ = ["LOGPROBS_INCLUDE", "ResponsesRequest"]

LOGPROBS_INCLUDE = "message.output_text.logprobs"
_Include = Literal[
    "code_interpreter_call.outputs",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "message.input_image.image_url",
    "message.output_text.logprobs",
    "reasoning.encrypted_content",
]
# Fields the Responses API shares with the completions' sampling parameters.
_SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "skip_special_tokens",
    "spaces_between_special_tokens",
    "include_stop_str_in_output",
    "stop",
    "stop_token_ids",
    "seed",
    "ignore_eos",
    "logit_bias",
    "priority",
    "watermarking",
    "cache_salt",
    "vllm_xargs",
    "kv_transfer_params",
    "ec_transfer_params",
    "structured_outputs",
    "session_id",
)


class TextConfig(VllmModel):
    format: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponsesRequest(VllmModel):
    """A Responses API request; field order as in vLLM."""

    background: bool | None = False
    include: list[_Include] | None = None
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    metadata: dict[str, str] | None = None
    model: str | None = None
    logit_bias: dict[str, float] | None = None
    parallel_tool_calls: bool | None = True
    previous_response_id: str | None = None
    prompt: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    include_reasoning: bool = True
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] = "auto"
    store: bool | None = True
    stream: bool | None = False
    temperature: float | None = None
    text: TextConfig | None = None
    tool_choice: str | dict[str, Any] = "auto"
    tools: list[dict[str, Any]] = []
    top_logprobs: TopLogprobsParam = 0
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    truncation: Literal["auto", "disabled"] | None = "disabled"
    user: str | None = None
    skip_special_tokens: bool | None = None
    spaces_between_special_tokens: bool = True
    include_stop_str_in_output: bool = False
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    safety_identifier: str | None = None
    # vLLM's extra-params section.
    watermarking: bool | None = None
    request_id: str = Field(default_factory=lambda: f"resp_{random_id()}")
    session_id: str | None = None
    media_io_kwargs: dict[str, dict[str, Any]] | None = None
    mm_processor_kwargs: dict[str, Any] | None = None
    priority: int = Field(default=0, ge=INT64_MIN, le=INT64_MAX)
    mm_payload: Literal["tensors", "none"] = "tensors"
    return_mm_kwargs: bool | None = None
    cache_salt: str | None = Field(default=None, min_length=1, max_length=1024)
    enable_response_messages: bool = False
    previous_input_messages: list[dict[str, Any]] | None = None
    structured_outputs: StructuredOutputs | None = None
    repetition_penalty: float | None = None
    seed: Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | None = None
    stop: StopParam = []
    stop_token_ids: list[int] | None = []
    ignore_eos: bool = False
    vllm_xargs: dict[str, str | int | float | list[str | int | float]] | None = None
    kv_transfer_params: dict[str, Any] | None = None
    ec_transfer_params: dict[str, Any] | None = None
    chat_template_kwargs: dict[str, Any] | None = None

    @field_validator("prompt_cache_retention", mode="before")
    @classmethod
    def _normalize_retention(cls, value: Any) -> Any:
        return "in_memory" if value == "in-memory" else value

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        """vLLM's before-validators: background, prompt templates, tool usage, custom tools."""
        if not isinstance(data, dict):
            return data
        check_cache_salt(data.get("cache_salt"))
        if data.get("background") and not data.get("store", True):
            raise VllmValidationError(
                "background can only be used when `store` is true", parameter="background"
            )
        if data.get("prompt") is not None:
            raise VllmValidationError("prompt template is not supported", parameter="prompt")
        for tool in data.get("tools") or []:
            fmt = tool.get("format") if isinstance(tool, dict) else None
            if (
                isinstance(fmt, dict)
                and tool.get("type") == "custom"
                and fmt.get("type") == "grammar"
            ):
                raise VllmValidationError(
                    "Custom tools with a grammar format are not supported; only free-form text "
                    "custom tools are accepted.",
                    parameter="tools",
                )
        choice = data.get("tool_choice", "auto")
        named = isinstance(choice, dict) and choice.get("type") in ("function", "custom")
        if not data.get("tools"):
            if choice in ("auto", "none"):
                data["tool_choice"] = "none"
            elif choice == "required":
                raise VllmValidationError(
                    "Tool choice 'required' must be specified with 'tools' parameter.",
                    parameter="tool_choice",
                )
            elif named:
                raise VllmValidationError(
                    "Tool choice 'function' not found in 'tools' parameter.",
                    parameter="tool_choice",
                )
        elif named and not choice.get("name"):
            raise VllmValidationError(
                "Tool choice 'function' not found in 'tools' parameter.", parameter="tool_choice"
            )
        return data

    def wants_logprobs(self) -> bool:
        return LOGPROBS_INCLUDE in (self.include or [])

    def as_sampling_request(self) -> SamplingRequest:
        """The sampling fields as the completions request would carry them."""
        return SamplingRequest.model_validate(
            {name: getattr(self, name) for name in _SAMPLING_FIELDS} | {"stream": self.stream}
        )
