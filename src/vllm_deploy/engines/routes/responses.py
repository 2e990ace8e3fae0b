"""``POST /v1/responses`` as vLLM 0.33.0 serves it for a model without Harmony, tool or
reasoning parsers (openai/responses/serving.py ``_create_responses``).

Text in, text out: ``input`` as a string or message items, ``instructions`` as a system
message, vLLM's sampling fields; one ``output_text`` message, ``status`` ``incomplete`` when
``max_output_tokens`` ran out. Nothing is stored (vLLM's default: no
``VLLM_ENABLE_RESPONSES_API_STORE``), so ``background`` and ``previous_response_id`` get
vLLM's answers to them. Streams send the Responses API's events with ``event:`` lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vllm_deploy.engines.base import TokenLogprobs
from vllm_deploy.engines.errors import OpenAIError, bad_request
from vllm_deploy.engines.http_io import DisconnectAwareStreamingResponse, complete_or_gone
from vllm_deploy.engines.logprobs import TokenNamer
from vllm_deploy.engines.params import build_sequence, check_max_tokens, max_tokens_for
from vllm_deploy.engines.prompts import (
    Prompt,
    check_chat_template,
    check_mm_kwargs,
    render_messages,
    tokenize,
)
from vllm_deploy.engines.protocol.chat import ChatMessage, merge_kwargs
from vllm_deploy.engines.protocol.responses import ResponsesRequest
from vllm_deploy.engines.routes.chat import render_chat
from vllm_deploy.engines.routes.common import EngineStart, Served, parse_model, priority, read_body
from vllm_deploy.engines.routes.responses_json import (
    ResponseState,
    Status,
    item_id,
    logprobs_json,
    message_json,
    response_json,
    usage_json,
)
from vllm_deploy.engines.routes.streaming import error_event
from vllm_deploy.engines.runs import Run

__all__ = ["Responses"]

_PARTIAL = ("in_progress", "incomplete")


def _invalid(status: int, message: str, param: str) -> OpenAIError:
    return OpenAIError(status, message, param=param, err_type="invalid_request_error")


def _check(req: ResponsesRequest, engine_name: str) -> None:
    """vLLM's ``_validate_create_responses_input`` and template check, and what is not here."""
    if req.store and req.background:
        raise _invalid(
            400,
            (
                "This vLLM engine does not support `store=True` and therefore does not support "
                "the background mode. To enable these features, set the environment variable "
                "`VLLM_ENABLE_RESPONSES_API_STORE=1` when launching the vLLM server."
            ),
            "background",
        )
    if req.previous_input_messages and req.previous_response_id:
        raise _invalid(
            400,
            "Only one of `previous_input_messages` and `previous_response_id` can be set.",
            "previous_response_id",
        )
    check_chat_template(None, req.chat_template_kwargs)
    fmt = (req.text.format or {}).get("type") if req.text is not None else None
    for name, used in (
        ("text", fmt not in (None, "text")),
        ("structured_outputs", req.structured_outputs is not None),
    ):
        if used:
            raise OpenAIError(
                400,
                f"{name}: structured output is not implemented by the "
                f"{engine_name} engine of vllm-deploy (vLLM 0.33.0 serves it).",
                param=name,
            )
    if req.previous_response_id is not None:  # nothing is stored
        raise _invalid(
            404, f"Response with id '{req.previous_response_id}' not found.", "response_id"
        )


def _conversation(req: ResponsesRequest, model_name: str) -> tuple[list[dict[str, Any]], bool]:
    """The chat messages of ``instructions`` and ``input``; whether the last one continues."""
    items: list[dict[str, Any]] = (
        [{"role": "user", "content": req.input}] if isinstance(req.input, str) else list(req.input)
    )
    messages = [ChatMessage(role="system", content=req.instructions)] if req.instructions else []
    for item in items:
        kind = item.get("type", "message")
        if kind != "message" or "role" not in item:
            raise bad_request(
                f"input: items of type {kind!r} are not implemented by vllm-deploy's engines "
                "(message items with text are)",
                "input",
            )
        messages.append(ChatMessage.model_validate(item))
    last = items[-1] if items else {}
    partial = (
        last.get("role") == "assistant"
        and isinstance(last.get("content"), list)
        and last.get("status") in _PARTIAL
    )
    return render_messages(messages, model_name), partial


class Responses:
    """The route handler. Usage: ``app.add_api_route("/v1/responses", Responses(served))``."""

    def __init__(self, served: Served) -> None:
        self._served = served

    async def __call__(self, request: Request) -> Response:
        served = self._served
        req = parse_model(ResponsesRequest, await read_body(request, served.body_limit))
        served.check_model(req.model)
        _check(req, served.engine_name)
        check_mm_kwargs(req.mm_processor_kwargs, req.media_io_kwargs)
        check_max_tokens(req.max_output_tokens, "max_output_tokens", served.limits)
        conversation, partial = _conversation(req, served.model_name)
        effort = (req.reasoning or {}).get("effort")
        extra: dict[str, Any] = {
            "add_generation_prompt": not partial,
            "continue_final_message": partial,
            "reasoning_effort": effort,
        }
        if effort is not None and "enable_thinking" not in (req.chat_template_kwargs or {}):
            extra["enable_thinking"] = effort != "none"
        if req.tools:
            extra["tools"] = req.tools
        text = render_chat(
            served, conversation, merge_kwargs(req.chat_template_kwargs or {}, extra)
        )
        limit = served.limits.max_model_len
        prompt = tokenize(
            served.engine.tokenizer,
            text,
            max_model_len=limit,
            add_special_tokens=False,
            truncate=-1 if req.truncation != "disabled" else None,
        )
        if len(prompt.ids) >= limit:
            raise _invalid(
                400,
                f"The engine prompt length {len(prompt.ids)} exceeds the "
                f"max_model_len {limit}. Please reduce prompt.",
                "input",
            )
        max_tokens = max_tokens_for(len(prompt.ids), req.max_output_tokens, served.limits)
        sampling = req.as_sampling_request()
        logprobs = req.top_logprobs if req.wants_logprobs() else None
        spec = build_sequence(
            sampling,
            n=1,
            logprobs=logprobs,
            max_tokens=max_tokens,
            explicit_max_tokens=req.max_output_tokens is not None,
            limits=served.limits,
            tokenizer=served.engine.tokenizer,
        )
        run = Run(served.generator, [prompt], [spec], 1, priority=priority(request, req.priority))
        start = EngineStart(served, sampling, run, logprobs, None)
        params = spec.params
        state = ResponseState(
            req,
            served.model_name,
            int(time.time()),
            params.temperature,
            params.top_p,
            max_tokens,
            params.presence_penalty,
            params.frequency_penalty,
            logprobs,
            item_id("msg"),
        )
        namer = TokenNamer(served.engine.tokenizer, False)
        if req.stream:
            events = _stream(state, run, prompt, text, namer, start)
            return DisconnectAwareStreamingResponse(events, media_type="text/event-stream")
        await start()
        return JSONResponse(
            await complete_or_gone(request, _complete(state, run, prompt, text, namer))
        )


async def _complete(
    state: ResponseState, run: Run, prompt: Prompt, text: str, namer: TokenNamer
) -> dict[str, Any]:
    choice = (await run.collect())[0]
    status: Status = "incomplete" if choice.finish_reason == "length" else "completed"
    lp = (
        logprobs_json(choice.token_ids, choice.logprobs, state.top_logprobs or 0, namer)
        if state.top_logprobs is not None
        else None
    )
    return response_json(
        state,
        status,
        [message_json(state, choice.text, lp, status)],
        usage_json(len(prompt.ids), len(choice.token_ids)),
        _messages(state, prompt, text, choice.text, choice.token_ids),
    )


def _messages(
    state: ResponseState, prompt: Prompt, text: str, output: str, ids: list[int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """``enable_response_messages``: the raw prompt and output, with their tokens."""
    if not state.req.enable_response_messages:
        return None
    return (
        [{"message": text, "tokens": prompt.ids, "type": "raw_message_tokens"}],
        [{"message": output, "tokens": ids, "type": "raw_message_tokens"}],
    )


def _event(kind: str, sequence: int, body: dict[str, Any]) -> str:
    data = {**body, "sequence_number": sequence, "type": kind}
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _stream(
    state: ResponseState,
    run: Run,
    prompt: Prompt,
    text: str,
    namer: TokenNamer,
    start: EngineStart,
) -> AsyncIterator[str]:
    msg, top = state.msg_id, state.top_logprobs
    seq = 0
    head = response_json(state, "in_progress", [], None)
    for kind in ("response.created", "response.in_progress"):
        yield _event(kind, seq, {"response": head})
        seq += 1
    out_text, finish = "", None
    ids: list[int] = []
    steps: list[TokenLogprobs | None] = []
    try:
        await start()
        async for _, delta in run.deltas():
            if not ids:
                item: dict[str, Any] = {
                    "id": msg,
                    "content": [],
                    "role": "assistant",
                    "status": "in_progress",
                    "type": "message",
                    "phase": None,
                }
                yield _event("response.output_item.added", seq, {"item": item, "output_index": 0})
                part = {"annotations": [], "text": "", "type": "output_text", "logprobs": []}
                yield _event(
                    "response.content_part.added",
                    seq + 1,
                    {"content_index": 0, "item_id": msg, "output_index": 0, "part": part},
                )
                seq += 2
            out_text += delta.text
            ids.append(delta.token_id)
            steps.append(delta.logprobs)
            finish = delta.finish_reason
            lp = (
                []
                if top is None
                else logprobs_json([delta.token_id], [delta.logprobs], top, namer, with_bytes=False)
            )
            yield _event(
                "response.output_text.delta",
                seq,
                {
                    "content_index": 0,
                    "delta": delta.text,
                    "item_id": msg,
                    "logprobs": lp,
                    "output_index": 0,
                },
            )
            seq += 1
    except Exception as exc:
        yield error_event(exc)
        return
    status: Status = "incomplete" if finish == "length" else "completed"
    lp_all = logprobs_json(ids, steps, top, namer) if top is not None else None
    yield _event(
        "response.output_text.done",
        seq,
        {"content_index": 0, "item_id": msg, "logprobs": [], "output_index": 0, "text": out_text},
    )
    done = {"annotations": [], "text": out_text, "type": "output_text", "logprobs": lp_all}
    yield _event(
        "response.content_part.done",
        seq + 1,
        {"content_index": 0, "item_id": msg, "output_index": 0, "part": done},
    )
    item = message_json(state, out_text, lp_all, status)
    yield _event("response.output_item.done", seq + 2, {"item": item, "output_index": 0})
    final = response_json(
        state,
        status,
        [item],
        usage_json(len(prompt.ids), len(ids)),
        _messages(state, prompt, text, out_text, ids),
    )
    yield _event(f"response.{status}", seq + 3, {"response": final})
