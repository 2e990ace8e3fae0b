"""Prompts as vLLM 0.33.0 renders and checks them: text or token ids, and chat messages.

- tokenization with ``add_special_tokens`` and ``truncate_prompt_tokens`` /
  ``truncation_side``, then the length check (vllm/renderers/params.py ``TokenizeParams``)
  and the vocabulary check (renderers/base.py ``validate_token_ids``);
- chat: vLLM's refusals for features off by default (renderers/online_renderer.py
  ``render_chat``, ``validate_chat_template``; generate/base/protocol.py
  ``validate_request_mm_kwargs``), content parts joined as its "string" content format does
  (renderers/chat_utils/chat_message.py), then the model's chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vllm_deploy.engines.base import Tokenizer
from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.protocol.chat import ChatCompletionRequest, ChatMessage, ToolChoice
from vllm_deploy.engines.protocol.tokenize import TokenizeChatRequest

__all__ = [
    "Prompt",
    "check_chat_options",
    "check_chat_template",
    "check_mm_kwargs",
    "check_prompt_ids",
    "render_messages",
    "tokenize",
]

# Content parts rendered as text, and the media parts vLLM hands to a multimodal processor.
_TEXT_PARTS = {
    "text": "text",
    "input_text": "text",
    "output_text": "text",
    "refusal": "refusal",
    "thinking": "thinking",
}
_MEDIA_PARTS = frozenset(
    {
        "input_image",
        "image_url",
        "image_embeds",
        "audio_embeds",
        "video_embeds",
        "prompt_embeds",
        "image_pil",
        "audio_url",
        "input_audio",
        "video_url",
    }
)
_SUPPORTED_PARTS = sorted({*_TEXT_PARTS, *_MEDIA_PARTS, "tool_reference"})


@dataclass(frozen=True)
class Prompt:
    """One prompt: its token ids and the text they came from (None for token-id prompts)."""

    ids: list[int]
    text: str | None


def _truncate(ids: list[int], keep: int | None, side: Literal["left", "right"]) -> list[int]:
    if keep is None or keep >= len(ids):
        return ids
    if keep == 0:
        return []
    return ids[-keep:] if side == "left" else ids[:keep]


def tokenize(
    tokenizer: Tokenizer,
    prompt: str | list[int],
    *,
    max_model_len: int,
    add_special_tokens: bool = True,
    truncate: int | None = None,
    side: Literal["left", "right"] | None = None,
    default_side: Literal["left", "right"] = "right",
) -> Prompt:
    """Token ids of a text or token-id prompt, truncated and checked as vLLM does."""
    if truncate is not None and truncate > max_model_len:
        raise VllmValidationError(
            f"truncate_prompt_tokens={truncate} cannot be greater than max_model_len = "
            f"{max_model_len}. Please request a smaller truncation size.",
            parameter="truncate_prompt_tokens",
            value=truncate,
        )
    keep = max_model_len - 1 if truncate == -1 else truncate
    text = prompt if isinstance(prompt, str) else None
    ids = tokenizer.encode(prompt, add_special_tokens) if isinstance(prompt, str) else list(prompt)
    ids = _truncate(ids, keep, side or default_side)
    if len(ids) > max_model_len:
        # A text prompt is tokenized up to max_model_len + 1 tokens (get_encode_kwargs).
        count = max_model_len + 1 if text is not None else len(ids)
        qualifier = "at least " if count == max_model_len + 1 else ""
        raise VllmValidationError(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"prompt contains {qualifier}{count} input tokens, which exceeds this limit even "
            "without any output tokens. Please reduce the length of the input prompt.",
            parameter="input_tokens",
            value=count,
        )
    return Prompt(ids, text)


def check_prompt_ids(ids: Sequence[int], vocab_size: int, routed_experts_start: int = 0) -> None:
    """The engine's checks of a prompt (v1/engine/input_processor.py ``process_inputs``)."""
    if not ids:
        raise VllmValidationError("The decoder prompt cannot be empty")
    if (top := max(ids)) >= vocab_size:
        raise VllmValidationError(f"Token id {top} is out of vocabulary")
    if not 0 <= routed_experts_start <= len(ids):
        raise VllmValidationError(
            f"routed_experts_prompt_start must be between 0 and the prompt length "
            f"({len(ids)}), inclusive.",
            parameter="routed_experts_prompt_start",
            value=routed_experts_start,
        )


def check_chat_options(
    req: ChatCompletionRequest | TokenizeChatRequest, check_tool_choice: bool = True
) -> None:
    """What vLLM refuses with its default flags, in its order."""
    choice = getattr(req, "tool_choice", None)
    if check_tool_choice and choice not in (None, "none"):
        if choice == "auto":
            raise VllmValidationError(
                '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
                "to be set"
            )
        desc = (
            f'function "{choice.function.name}"'
            if isinstance(choice, ToolChoice)
            else f'"{choice}"'
        )
        raise VllmValidationError(f"tool_choice={desc} requires --tool-call-parser to be set")
    check_chat_template(req.chat_template, req.chat_template_kwargs)
    check_mm_kwargs(req.mm_processor_kwargs, req.media_io_kwargs)


def check_chat_template(template: str | None, kwargs: dict[str, Any] | None) -> None:
    """vLLM's ``validate_chat_template`` without ``--trust-request-chat-template``."""
    if template is not None or (kwargs or {}).get("chat_template") is not None:
        raise VllmValidationError(
            "Chat template is passed with request, but --trust-request-chat-template is not "
            "set. Refused request with untrusted chat template."
        )


def check_mm_kwargs(mm_processor_kwargs: Any, media_io_kwargs: Any) -> None:
    """vLLM's ``validate_request_mm_kwargs`` without ``--trust-request-mm-kwargs``."""
    for name, value in (
        ("mm_processor_kwargs", mm_processor_kwargs),
        ("media_io_kwargs", media_io_kwargs),
    ):
        if value:
            what = "preprocessing" if name == "mm_processor_kwargs" else "media loading"
            raise VllmValidationError(
                f"Per-request {name} are disabled by default because they can change "
                f"multimodal {what} resource usage. Start the server with "
                "--trust-request-mm-kwargs only when clients are trusted.",
                parameter=name,
            )


def _part_text(part: str | dict[str, Any], model_name: str) -> str | None:
    if isinstance(part, str):
        return part
    kind = part.get("type", "text")
    if not isinstance(kind, str):
        raise VllmValidationError("Invalid 'type' field in multimodal part.", parameter="type")
    if kind in _TEXT_PARTS:
        value = part.get(_TEXT_PARTS[kind])
        return value if isinstance(value, str) else None
    if kind == "tool_reference":
        value = part.get("name")
        return value if isinstance(value, str) else None
    if kind in _MEDIA_PARTS:
        raise VllmValidationError(f"{model_name} is not a multimodal model")
    raise VllmValidationError(
        f"Unsupported chat content part type: {kind!r}. Supported types: "
        f"{', '.join(_SUPPORTED_PARTS)}.",
        parameter="type",
        value=kind,
    )


def render_messages(messages: Sequence[ChatMessage], model_name: str) -> list[dict[str, Any]]:
    """The conversation the chat template sees: content as one string per message."""
    conversation = []
    for message in messages:
        content = message.content
        if isinstance(content, list):
            texts = [t for p in content if (t := _part_text(p, model_name)) is not None]
            content = "\n".join(texts)
        entry: dict[str, Any] = {"role": message.role, "content": content or ""}
        if message.role == "assistant" and message.tool_calls is not None:
            entry["tool_calls"] = message.tool_calls
        if message.role == "assistant" and message.reasoning is not None:
            entry["reasoning"] = entry["reasoning_content"] = message.reasoning
        if message.role == "tool" and message.tool_call_id is not None:
            entry["tool_call_id"] = message.tool_call_id
        if message.name is not None:
            entry["name"] = message.name
        conversation.append(entry)
    return conversation
