"""The Responses API's objects as vLLM 0.33.0 writes them (openai/responses/protocol.py
``ResponsesResponse.from_request``, serving.py ``_create_response_logprobs``, and the stream
events of its ``SimpleStreamingEventProcessor``).

Echoed request objects carry the fields of the openai types vLLM parses them into
(``Reasoning``, ``FunctionTool``, ``ResponseTextConfig``, ``PromptCacheOptions``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vllm_deploy.engines.base import TokenLogprobs
from vllm_deploy.engines.logprobs import TokenNamer
from vllm_deploy.engines.protocol.responses import ResponsesRequest

__all__ = [
    "ResponseState",
    "Status",
    "item_id",
    "logprobs_json",
    "message_json",
    "response_json",
    "usage_json",
]

Status = Literal["in_progress", "completed", "incomplete"]
_REASONING = ("context", "effort", "generate_summary", "mode", "summary")
_FUNCTION_TOOL = (
    "name",
    "parameters",
    "strict",
    "type",
    "allowed_callers",
    "async",
    "defer_loading",
    "description",
    "output_schema",
)
_FLOOR = -9999.0


def item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _with_keys(value: dict[str, Any] | None, keys: Sequence[str]) -> dict[str, Any] | None:
    return None if value is None else {k: value.get(k) for k in keys} | value


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return tool
    return {k: tool.get(k) for k in _FUNCTION_TOOL} | tool


def usage_json(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "input_tokens_per_turn": [],
            "cached_tokens_per_turn": [],
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": 0,
            "tool_output_tokens": 0,
            "output_tokens_per_turn": [],
            "tool_output_tokens_per_turn": [],
        },
        "total_tokens": prompt + completion,
    }


def logprobs_json(
    ids: Sequence[int],
    steps: Sequence[TokenLogprobs | None],
    top: int,
    name: TokenNamer,
    with_bytes: bool = True,
) -> list[dict[str, Any]]:
    """Per token: the token, its logprob and the first ``top`` candidates (sampled first)."""

    def entry(token: str, value: float) -> dict[str, Any]:
        out: dict[str, Any] = {"token": token}
        if with_bytes:
            out["bytes"] = list(token.encode("utf-8", errors="replace"))
        out["logprob"] = max(value, _FLOOR)
        return out

    result = []
    for token_id, step in zip(ids, steps, strict=True):
        step = step or {token_id: _FLOOR}
        tops = [entry(name(t), v) for t, v in list(step.items())[:top]] if top else []
        result.append(entry(name(token_id), step.get(token_id, _FLOOR)) | {"top_logprobs": tops})
    return result


@dataclass
class ResponseState:
    """One response as it is being produced; ``json`` writes vLLM's ``ResponsesResponse``."""

    req: ResponsesRequest
    model: str
    created: int
    temperature: float
    top_p: float
    max_tokens: int
    presence_penalty: float
    frequency_penalty: float
    top_logprobs: int | None
    msg_id: str


def message_json(
    state: ResponseState, text: str, logprobs: list[dict[str, Any]] | None, status: Status
) -> dict[str, Any]:
    content = [{"annotations": [], "text": text, "type": "output_text", "logprobs": logprobs}]
    return {
        "id": state.msg_id,
        "content": content,
        "role": "assistant",
        "status": status,
        "type": "message",
        "phase": None,
    }


def response_json(
    state: ResponseState,
    status: Status,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    messages: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    req = state.req
    options = req.prompt_cache_options
    return {
        "id": req.request_id,
        "created_at": state.created,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": req.instructions,
        "metadata": req.metadata,
        "model": state.model,
        "object": "response",
        "output": output,
        "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
        "temperature": state.temperature,
        "tool_choice": req.tool_choice,
        "tools": [_tool(t) for t in req.tools],
        "top_p": state.top_p,
        "background": req.background,
        "max_output_tokens": state.max_tokens,
        "max_tool_calls": req.max_tool_calls,
        "previous_response_id": req.previous_response_id,
        "prompt": req.prompt,
        "prompt_cache_options": None
        if options is None
        else {
            "mode": options.get("mode", "implicit"),
            "ttl": options.get("ttl", "30m"),
            "comparison_response_id": options.get("comparison_response_id"),
        },
        "prompt_cache_key": req.prompt_cache_key,
        "prompt_cache_retention": req.prompt_cache_retention,
        "reasoning": _with_keys(req.reasoning, _REASONING),
        "safety_identifier": req.safety_identifier,
        "service_tier": req.service_tier,
        "status": status,
        "text": None if req.text is None else req.text.model_dump(),
        "top_logprobs": state.top_logprobs,
        "truncation": req.truncation,
        "usage": usage,
        "user": req.user,
        "presence_penalty": state.presence_penalty,
        "frequency_penalty": state.frequency_penalty,
        "kv_transfer_params": None,
        "ec_transfer_params": None,
        "input_messages": messages[0] if messages else None,
        "output_messages": messages[1] if messages else None,
    }
