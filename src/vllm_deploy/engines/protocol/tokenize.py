"""``POST /tokenize`` and ``POST /detokenize``: vLLM 0.33.0's models
(serve/tokenize/protocol.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.protocol.base import INT64_MAX, VllmModel
from vllm_deploy.engines.protocol.chat import ChatMessage, Tool, merge_kwargs

__all__ = ["DetokenizeRequest", "TokenizeChatRequest", "TokenizeCompletionRequest"]


class TokenizeCompletionRequest(VllmModel):
    model: str | None = None
    prompt: str
    add_special_tokens: bool = True
    return_token_strs: bool | None = False


class TokenizeChatRequest(VllmModel):
    model: str | None = None
    messages: list[ChatMessage]
    add_generation_prompt: bool = True
    return_token_strs: bool | None = False
    continue_final_message: bool = False
    add_special_tokens: bool = False
    chat_template: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    media_io_kwargs: dict[str, dict[str, Any]] | None = None
    mm_processor_kwargs: dict[str, Any] | None = None
    tools: list[Tool] | None = None

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

    def template_kwargs(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "add_generation_prompt": self.add_generation_prompt,
            "continue_final_message": self.continue_final_message,
        }
        if self.tools:
            extra["tools"] = [t.model_dump(exclude_none=True) for t in self.tools]
        return merge_kwargs(self.chat_template_kwargs or {}, extra)


class DetokenizeRequest(VllmModel):
    model: str | None = None
    tokens: list[Annotated[int, Field(ge=0, le=INT64_MAX)]]
