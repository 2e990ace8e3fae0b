"""``POST /v1/chat/completions``: vLLM 0.33.0's ``ChatCompletionRequest``
(chat_completion/protocol.py).

Messages take any role (vLLM's ``CustomChatCompletionMessageParam`` does) and ``content`` as
a string, ``null`` or a list of parts; ``messages.render_content`` turns parts into the text
the chat template sees, as vLLM's "string" content format does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.protocol.base import TopLogprobsParam, VllmModel
from vllm_deploy.engines.protocol.sampling import SamplingRequest

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "FunctionDefinition",
    "Tool",
    "ToolChoice",
    "merge_kwargs",
]


class ChatMessage(VllmModel):
    role: str
    content: str | list[str | dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    reasoning: str | dict[str, Any] | None = None


class FunctionDefinition(VllmModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(VllmModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class _NamedFunction(VllmModel):
    name: str


class ToolChoice(VllmModel):
    function: _NamedFunction
    type: Literal["function"] = "function"


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class ChatCompletionRequest(SamplingRequest):
    """A chat completion; every vLLM field, in vLLM's order within each section."""

    messages: list[ChatMessage]
    logprobs: bool | None = False
    top_logprobs: TopLogprobsParam = 0
    max_tokens: int | None = None  # deprecated by OpenAI in favour of max_completion_tokens
    max_completion_tokens: int | None = None
    n: int | None = 1
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoice | None = "none"
    reasoning_effort: ReasoningEffort | None = None
    include_reasoning: bool = True
    parallel_tool_calls: bool | None = True
    echo: bool = False
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    add_special_tokens: bool = False
    documents: list[dict[str, str]] | None = None
    chat_template: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    media_io_kwargs: dict[str, dict[str, Any]] | None = None
    mm_processor_kwargs: dict[str, Any] | None = None
    return_prompt_text: bool | None = Field(default=None)

    @model_validator(mode="before")
    @classmethod
    def _rename_reasoning_content(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(messages := data.get("messages"), list):
            for msg in messages:
                if isinstance(msg, dict) and (rc := msg.pop("reasoning_content", None)) is not None:
                    msg.setdefault("reasoning", rc)
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_logprobs(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("logprob_token_ids") and not data.get("logprobs"):
            raise VllmValidationError(
                "when using `logprob_token_ids`, `logprobs` must be set to true.",
                parameter="logprob_token_ids",
            )
        value = data.get("top_logprobs")
        if value is not None and not isinstance(value, int | float):
            raise VllmValidationError(
                "`top_logprobs` must be an integer.", parameter="top_logprobs", value=value
            )
        if value is not None:
            if value < 0 and value != -1:
                raise VllmValidationError(
                    "`top_logprobs` must be a positive value or -1.",
                    parameter="top_logprobs",
                    value=value,
                )
            if (value == -1 or value > 0) and not data.get("logprobs"):
                raise VllmValidationError(
                    "when using `top_logprobs`, `logprobs` must be set to true.",
                    parameter="top_logprobs",
                )
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_tool_usage(cls, data: Any) -> Any:
        """vLLM's ``check_tool_usage``: tools imply ``auto``; a choice needs tools."""
        if not isinstance(data, dict):
            return data
        if data.get("tools") == []:
            raise VllmValidationError(
                "`tools` must not be an empty array. Either provide at least one tool or omit "
                "the field entirely.",
                parameter="tools",
            )
        if "tool_choice" not in data and data.get("tools"):
            data["tool_choice"] = "auto"
        choice = data.get("tool_choice")
        if choice is None or choice == "none":
            return data
        if data.get("tools") is None:
            raise VllmValidationError(
                "When using `tool_choice`, `tools` must be set.", parameter="tool_choice"
            )
        if choice not in ("auto", "required") and not isinstance(choice, dict):
            raise VllmValidationError(
                f'Invalid value for `tool_choice`: {choice}! Only named tools, "none", '
                '"auto" or "required" are supported.',
                parameter="tool_choice",
            )
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            tools = data["tools"] if isinstance(data["tools"], list) else []
            names = [(t.get("function") or {}).get("name") for t in tools if isinstance(t, dict)]
            if name not in names:
                raise VllmValidationError(
                    "The tool specified in `tool_choice` does not match any of the specified "
                    "`tools`",
                    parameter="tool_choice",
                )
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_generation_prompt(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("continue_final_message")
            and data.get("add_generation_prompt")
        ):
            raise VllmValidationError(
                "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            )
        return data

    def effective_max_tokens(self) -> tuple[int | None, str]:
        """The output limit asked for, and the field that set it (for error messages)."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "max_completion_tokens"
        return self.max_tokens, "max_tokens"

    def template_kwargs(self) -> dict[str, Any]:
        """What the chat template receives besides the messages (vLLM's ``build_chat_params``:
        the request's values override ``chat_template_kwargs`` unless they are None)."""
        extra: dict[str, Any] = {
            "add_generation_prompt": self.add_generation_prompt,
            "continue_final_message": self.continue_final_message,
            "documents": self.documents,
            "reasoning_effort": self.reasoning_effort,
        }
        user = self.chat_template_kwargs or {}
        if self.reasoning_effort is not None and "enable_thinking" not in user:
            extra["enable_thinking"] = self.reasoning_effort != "none"
        if self.tools is not None:
            extra["tools"] = [t.model_dump(exclude_none=True) for t in self.tools]
        return merge_kwargs(user, extra)


def merge_kwargs(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """vLLM's ``merge_kwargs`` (renderers/params.py): None and "auto" do not override."""
    return defaults | {k: v for k, v in overrides.items() if v is not None and v != "auto"}
