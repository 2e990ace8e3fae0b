"""``POST /v1/completions``: vLLM 0.33.0's ``CompletionRequest`` (completion/protocol.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.protocol.sampling import SamplingRequest

__all__ = ["MAX_COMPLETION_PROMPTS", "CompletionRequest"]

MAX_COMPLETION_PROMPTS = 1024  # VLLM_MAX_COMPLETION_PROMPTS' default
_TokenId = Annotated[int, Field(ge=0)]


class CompletionRequest(SamplingRequest):
    """A completion of one prompt or a batch: text, token ids, or lists of either."""

    prompt: list[_TokenId] | list[list[_TokenId]] | str | list[str] | None = None
    echo: bool | None = False
    logprobs: int | None = None
    max_tokens: int | None = 16
    n: int = 1
    suffix: str | None = None
    prompt_embeds: bytes | list[bytes] | None = None
    add_special_tokens: bool = True

    @model_validator(mode="before")
    @classmethod
    def _normalize_null_max_tokens(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max_tokens") is None:
            data = {**data, "max_tokens": 16}
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_logprobs(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("use_beam_search") and data.get("echo") and data.get("logprobs") is not None:
            raise VllmValidationError(
                "`echo` with `logprobs` is not supported with beam search because beam search "
                "does not compute prompt logprobs.",
                parameter="echo",
            )
        if data.get("logprob_token_ids") and data.get("echo") and data.get("max_tokens") == 0:
            raise VllmValidationError(
                "`logprob_token_ids` is not supported when `echo=True` and `max_tokens=0` "
                "because no output tokens are generated.",
                parameter="logprob_token_ids",
            )
        if data.get("logprob_token_ids") and data.get("logprobs") is None:
            raise VllmValidationError(
                "when using `logprob_token_ids`, `logprobs` must be set.",
                parameter="logprob_token_ids",
            )
        value = data.get("logprobs")
        if value is not None and not isinstance(value, int | float):
            raise VllmValidationError(
                "`logprobs` must be an integer.", parameter="logprobs", value=value
            )
        if value is not None and value < 0 and value != -1:
            raise VllmValidationError(
                "`logprobs` must be a positive value or -1.", parameter="logprobs", value=value
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _check_prompt(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        prompt, embeds = data.get("prompt"), data.get("prompt_embeds")
        if (prompt is None or prompt == "") and (embeds is None or embeds == []):
            raise VllmValidationError(
                "Either prompt or prompt_embeds must be provided and non-empty.",
                parameter="prompt",
            )
        batch = isinstance(prompt, list) and not all(isinstance(p, int) for p in prompt)
        if batch and isinstance(prompt, list) and len(prompt) > MAX_COMPLETION_PROMPTS:
            raise VllmValidationError(
                f"prompt list length {len(prompt)} exceeds the maximum allowed count of "
                f"{MAX_COMPLETION_PROMPTS}. To increase this limit, set the "
                "VLLM_MAX_COMPLETION_PROMPTS environment variable.",
                parameter="prompt",
            )
        return data

    def prompts(self) -> list[str | list[int]]:
        """The batch: one entry per prompt, text or token ids."""
        prompt = self.prompt
        if prompt is None:
            return []
        if isinstance(prompt, str):
            return [prompt]
        out: list[str | list[int]] = []
        for item in prompt:
            if isinstance(item, int):  # one prompt of token ids
                return [[int(i) for i in prompt if isinstance(i, int)]]
            out.append(item)
        return out
