"""``POST /v1/chat/completions`` as vLLM 0.33.0 serves it (openai/chat_completion/serving.py).

Checks in vLLM's order: model; tool choice, request chat template and multimodal kwargs
(off by default); the output limit against the context; the chat template and the prompt's
length; sampling parameters; then the engine. Each choice's stream starts, once the engine
has produced its first token, with a ``role`` chunk (and, with ``echo``, the echoed
content); the last chunk of each choice carries ``finish_reason`` and ``stop_reason``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vllm_deploy.engines.errors import bad_request
from vllm_deploy.engines.generation import Delta
from vllm_deploy.engines.http_io import DisconnectAwareStreamingResponse, complete_or_gone
from vllm_deploy.engines.logprobs import TokenNamer, chat_logprobs, prompt_logprobs_json
from vllm_deploy.engines.params import build_sequence, check_max_tokens, max_tokens_for
from vllm_deploy.engines.prompts import (
    Prompt,
    check_chat_options,
    render_messages,
    tokenize,
)
from vllm_deploy.engines.protocol.chat import ChatCompletionRequest
from vllm_deploy.engines.routes.common import (
    EngineStart,
    Served,
    parse_model,
    priority,
    read_body,
    refuse_not_implemented,
    request_id,
)
from vllm_deploy.engines.routes.streaming import (
    StreamOptions,
    dumps,
    error_event,
    head_json,
    sse,
    stream_end,
    usage_json,
)
from vllm_deploy.engines.runs import Run, Sequence

__all__ = ["ChatCompletions", "render_chat"]

_NULL_MESSAGE_FIELDS = {
    "refusal": None,
    "annotations": None,
    "audio": None,
    "function_call": None,
    "reasoning": None,
}


def render_chat(
    served: Served, messages: list[dict[str, Any]], template_kwargs: dict[str, Any]
) -> str:
    """The model's chat template over ``messages``; its refusals as vLLM's 400."""
    try:
        return served.engine.tokenizer.apply_chat_template(messages, **template_kwargs)
    except (ValueError, TypeError) as exc:
        raise bad_request(str(exc)) from None
    except Exception as exc:
        if any(cls.__name__ == "TemplateError" for cls in type(exc).__mro__):
            raise bad_request(str(exc)) from None
        raise


@dataclass
class _Reply:
    served: Served
    req: ChatCompletionRequest
    rid: str
    created: int
    namer: TokenNamer
    role: str
    echo: str  # the last message's content, echoed when it has the reply's role
    prompt_text: str

    @functools.cached_property
    def head(self) -> str:
        """The JSON every stream chunk starts with (built once, when streaming)."""
        return head_json(self.rid, "chat.completion.chunk", self.created, self.served.model_name)

    def head_fields(self) -> dict[str, Any]:
        return {
            "id": self.rid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.served.model_name,
        }

    def logprobs(self, ids: list[int], steps: list[Any]) -> dict[str, Any] | None:
        if not self.req.logprobs:
            return None
        return chat_logprobs(
            ids,
            steps,
            self.req.top_logprobs,
            self.namer,
            return_all=bool(self.req.logprob_token_ids),
        )


class ChatCompletions:
    """The route handler. Usage: ``app.add_api_route(path, ChatCompletions(served))``."""

    def __init__(self, served: Served) -> None:
        self._served = served

    async def __call__(self, request: Request) -> Response:
        served = self._served
        req = parse_model(ChatCompletionRequest, await read_body(request, served.body_limit))
        served.check_model(req.model)
        refuse_not_implemented(req, served.engine_name)
        if req.stream and req.use_beam_search:
            raise bad_request("Streaming is not currently supported with beam search")
        check_chat_options(req)
        asked, asked_field = req.effective_max_tokens()
        check_max_tokens(asked, asked_field, served.limits)
        conversation = render_messages(req.messages, served.model_name)
        text = render_chat(served, conversation, req.template_kwargs())
        prompt = tokenize(
            served.engine.tokenizer,
            text,
            max_model_len=served.limits.max_model_len,
            add_special_tokens=req.add_special_tokens,
            truncate=req.truncate_prompt_tokens,
            side=req.truncation_side,
        )
        max_tokens = max_tokens_for(len(prompt.ids), asked, served.limits)
        logprobs = req.top_logprobs if req.logprobs else None
        n = 1 if req.n is None else req.n  # 0 is refused by the sampling checks, as in vLLM
        spec = build_sequence(
            req,
            n=n,
            logprobs=logprobs,
            max_tokens=max_tokens,
            explicit_max_tokens=asked is not None,
            limits=served.limits,
            tokenizer=served.engine.tokenizer,
        )
        run = Run(served.generator, [prompt], [spec], n, priority=priority(request, req.priority))
        start = EngineStart(
            served,
            req,
            run,
            logprobs,
            # to_sampling_params: echo asks for prompt logprobs (top_logprobs of them, even 0).
            req.prompt_logprobs
            if req.prompt_logprobs is not None
            else req.top_logprobs
            if req.echo
            else None,
        )
        role = "assistant" if req.add_generation_prompt else conversation[-1]["role"]
        last = conversation[-1] if conversation else {}
        reply = _Reply(
            served,
            req,
            f"chatcmpl-{request_id(request, req.request_id)}",
            int(time.time()),
            TokenNamer(served.engine.tokenizer, bool(req.return_tokens_as_token_ids)),
            role,
            (last.get("content") or "") if req.echo and last.get("role") == role else "",
            text,
        )
        if req.stream:
            return DisconnectAwareStreamingResponse(
                _stream(reply, run, prompt, start), media_type="text/event-stream"
            )
        await start()
        return JSONResponse(await complete_or_gone(request, _complete(reply, run, prompt)))


async def _complete(reply: _Reply, run: Run, prompt: Prompt) -> dict[str, Any]:
    req = reply.req
    choices = await run.collect()
    out = []
    for seq in run.sequences:
        choice = choices[seq.index]
        message = {"role": reply.role, "content": reply.echo + choice.text, **_NULL_MESSAGE_FIELDS}
        out.append(
            {
                "index": seq.index,
                "message": message,
                "logprobs": reply.logprobs(choice.token_ids, choice.logprobs),
                "finish_reason": choice.finish_reason,
                "stop_reason": choice.stop_reason,
                "token_ids": choice.token_ids if req.return_token_ids else None,
                "routed_experts": None,
                "weight_versions": None,
            }
        )
    prompt_tokens, completion_tokens = run.usage()
    scored = run.sequences[0].prompt_logprobs
    return {
        **reply.head_fields(),
        "object": "chat.completion",
        "choices": out,
        "service_tier": None,
        "system_fingerprint": reply.served.fingerprint,
        "usage": usage_json(prompt_tokens, completion_tokens, details=True),
        "prompt_logprobs": prompt_logprobs_json(scored, reply.namer)
        if scored is not None
        else None,
        "prompt_token_ids": prompt.ids if req.return_token_ids else None,
        "prompt_text": reply.prompt_text if req.return_prompt_text else None,
        "kv_transfer_params": None,
        "ec_transfer_params": None,
        "metrics": None,
    }


def _usage(prompt: Prompt, completion: int) -> dict[str, Any]:
    return {**usage_json(len(prompt.ids), completion), "completion_tokens_details": None}


def _opening(reply: _Reply, run: Run, prompt: Prompt, options: StreamOptions) -> list[str]:
    """The role chunk of every choice, then the echoed content (vLLM's first iteration)."""
    req, events = reply.req, []
    for seq in run.sequences:
        chunk: dict[str, Any] = {
            **reply.head_fields(),
            "choices": [
                {
                    "index": seq.index,
                    "delta": {"role": reply.role, "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
            "prompt_token_ids": prompt.ids if req.return_token_ids else None,
            "prompt_text": reply.prompt_text if req.return_prompt_text else None,
        }
        if options.continuous_usage:
            chunk["usage"] = _usage(prompt, 0)
        events.append(sse(chunk))
    if reply.echo:
        for seq in run.sequences:
            chunk = {
                **reply.head_fields(),
                "choices": [
                    {
                        "index": seq.index,
                        "delta": {"content": reply.echo},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            }
            if options.continuous_usage:
                chunk["usage"] = _usage(prompt, 0)
            events.append(sse(chunk))
    return events


async def _stream(
    reply: _Reply, run: Run, prompt: Prompt, start: EngineStart
) -> AsyncIterator[str]:
    req = reply.req
    options = StreamOptions.of(req.stream_options, req.stream_interval)
    counts = {seq.index: 0 for seq in run.sequences}
    pending: dict[int, list[Delta]] = {seq.index: [] for seq in run.sequences}
    opened = False
    try:
        await start()
        async for seq, delta in run.deltas():
            if not opened:
                for event in _opening(reply, run, prompt, options):
                    yield event
                opened = True
            counts[seq.index] += 1
            pending[seq.index].append(delta)
            if options.send_now(counts[seq.index], delta.finish_reason is not None):
                batch, pending[seq.index] = pending[seq.index], []
                yield _chunk(reply, seq, batch, counts[seq.index], options)
    except Exception as exc:
        yield error_event(exc)
        yield "data: [DONE]\n\n"
        return
    usage = run.usage() if options.include_usage else None
    for event in stream_end(reply.head_fields(), reply.served.fingerprint, usage):
        yield event


def _chunk(
    reply: _Reply, seq: Sequence, batch: list[Delta], count: int, options: StreamOptions
) -> str:
    """One ``ChatCompletionStreamResponse`` chunk, written directly: this runs per token."""
    last = batch[-1]
    ids = [d.token_id for d in batch]
    logprobs = reply.logprobs(ids, [d.logprobs for d in batch])
    token_ids = ids if reply.req.return_token_ids else None
    parts = [
        reply.head,
        ',"choices":[{"index":',
        str(seq.index),
        ',"delta":{"content":',
        dumps("".join(d.text for d in batch)),
        '},"logprobs":',
        dumps(logprobs),
        ',"finish_reason":',
        dumps(last.finish_reason),
        ',"token_ids":',
        dumps(token_ids),
    ]
    if last.finish_reason is not None:
        parts += [',"stop_reason":', dumps(last.stop_reason), ',"weight_versions":null']
    parts.append('}],"kv_transfer_params":null')
    if options.continuous_usage:
        parts += [',"usage":', dumps(_usage(seq.prompt, count))]
    if last.finish_reason is not None and not options.include_usage:
        parts += [',"system_fingerprint":', dumps(reply.served.fingerprint)]
    return "data: " + "".join(parts) + "}\n\n"
