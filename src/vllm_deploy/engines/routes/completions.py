"""``POST /v1/completions`` as vLLM 0.33.0 serves it (openai/completion/serving.py).

Checks in vLLM's order: model; suffix, echo and prompt-embeds combinations (renderers/
online_renderer.py ``render_completion``); ``max_tokens`` against the context; each prompt
tokenized and checked; sampling parameters; then the engine. Responses and stream chunks
carry the fields vLLM's ``CompletionResponse`` / ``CompletionStreamResponse`` carry, set as
vLLM sets them (a test compares their shapes with vLLM's answers).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vllm_deploy.engines.errors import VllmValidationError, bad_request
from vllm_deploy.engines.http_io import DisconnectAwareStreamingResponse, complete_or_gone
from vllm_deploy.engines.logprobs import TokenNamer, completion_logprobs, prompt_logprobs_json
from vllm_deploy.engines.params import build_sequence, check_max_tokens, max_tokens_for
from vllm_deploy.engines.prompts import Prompt, tokenize
from vllm_deploy.engines.protocol.completions import CompletionRequest
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
    stream_end,
    usage_json,
)
from vllm_deploy.engines.runs import Run, Sequence

__all__ = ["Completions"]


def _render(served: Served, req: CompletionRequest) -> list[Prompt]:
    if req.suffix is not None:
        if req.echo:
            raise bad_request("Echo is unsupported with suffix.", "suffix")
        if req.prompt_embeds is not None:
            raise bad_request("suffix is not supported with prompt_embeds", "suffix")
        if req.truncate_prompt_tokens is not None:
            raise bad_request("suffix is not supported with truncate_prompt_tokens", "suffix")
        text_prompts = isinstance(req.prompt, str) or (
            isinstance(req.prompt, list) and all(isinstance(p, str) for p in req.prompt)
        )
        raise bad_request(
            "suffix is only supported for models with FIM completion rendering"
            if text_prompts
            else "suffix requires text prompt input for FIM completion rendering",
            "suffix",
        )
    if req.echo and req.prompt_embeds is not None:
        raise bad_request("Echo is unsupported with prompt embeds.")
    if req.prompt_logprobs is not None and req.prompt_embeds is not None:
        raise bad_request("prompt_logprobs is not compatible with prompt embeds.")
    check_max_tokens(req.max_tokens or 0, "max_tokens", served.limits)
    if req.prompt_embeds is not None:
        raise VllmValidationError(
            "You must set `--enable-prompt-embeds` to input `prompt_embeds`.",
            parameter="prompt_embeds",
        )
    tokenizer = served.engine.tokenizer
    prompts = [
        tokenize(
            tokenizer,
            p,
            max_model_len=served.limits.max_model_len,
            add_special_tokens=req.add_special_tokens,
            truncate=req.truncate_prompt_tokens,
            side=req.truncation_side,
        )
        for p in req.prompts()
    ]
    if not prompts:
        raise VllmValidationError("The decoder prompt cannot be empty")
    return prompts


@dataclass
class _Reply:
    """What every chunk and the response of one request share."""

    served: Served
    req: CompletionRequest
    rid: str
    created: int
    namer: TokenNamer
    echo_only: bool  # echo with max_tokens 0: the prompt is the whole answer

    @functools.cached_property
    def head(self) -> str:
        """The JSON every stream chunk starts with (built once, when streaming)."""
        return head_json(self.rid, "text_completion", self.created, self.served.model_name)

    def head_fields(self) -> dict[str, Any]:
        return {
            "id": self.rid,
            "object": "text_completion",
            "created": self.created,
            "model": self.served.model_name,
        }

    def prompt_text(self, prompt: Prompt) -> str:
        if self.req.return_token_ids:
            return ""
        if prompt.text is not None:
            return prompt.text
        return self.served.engine.tokenizer.decode(prompt.ids, skip_special_tokens=False)


class Completions:
    """The route handler. Usage: ``app.add_api_route("/v1/completions", Completions(served))``."""

    def __init__(self, served: Served) -> None:
        self._served = served

    async def __call__(self, request: Request) -> Response:
        served = self._served
        req = parse_model(CompletionRequest, await read_body(request, served.body_limit))
        served.check_model(req.model)
        refuse_not_implemented(req, served.engine_name)
        if req.stream and req.use_beam_search:
            raise bad_request("Streaming is not currently supported with beam search")
        prompts = _render(served, req)
        echo_only = bool(req.echo and req.max_tokens == 0)
        asked = req.max_tokens if "max_tokens" in req.model_fields_set else None
        specs = [
            build_sequence(
                req,
                n=req.n,
                logprobs=req.logprobs,
                max_tokens=1
                if echo_only
                else max_tokens_for(len(p.ids), req.max_tokens, served.limits),
                explicit_max_tokens=asked is not None,
                limits=served.limits,
                tokenizer=served.engine.tokenizer,
            )
            for p in prompts
        ]
        run = Run(served.generator, prompts, specs, req.n, priority=priority(request, req.priority))
        start = EngineStart(
            served,
            req,
            run,
            req.logprobs,
            req.prompt_logprobs
            if req.prompt_logprobs is not None
            else req.logprobs
            if req.echo
            else None,
        )
        reply = _Reply(
            served,
            req,
            f"cmpl-{request_id(request, req.request_id)}",
            int(time.time()),
            TokenNamer(served.engine.tokenizer, bool(req.return_tokens_as_token_ids)),
            echo_only,
        )
        if req.stream:
            return DisconnectAwareStreamingResponse(
                _stream(reply, run, start), media_type="text/event-stream"
            )
        await start()
        return JSONResponse(await complete_or_gone(request, _complete(reply, run)))


def _logprobs_json(
    reply: _Reply, seq: Sequence, ids: list[int], steps: list[Any], offset: int = 0
) -> dict[str, Any] | None:
    req = reply.req
    if req.logprobs is None:
        return None
    return completion_logprobs(
        ids, steps, req.logprobs, reply.namer, offset, return_all=bool(req.logprob_token_ids)
    )


async def _complete(reply: _Reply, run: Run) -> dict[str, Any]:
    req = reply.req
    choices = await run.collect()
    out: list[dict[str, Any]] = []
    for seq in run.sequences:
        choice = choices[seq.index]
        ids, steps, text = choice.token_ids, list(choice.logprobs), choice.text
        if req.echo:
            prompt_steps = [p.logprobs if p else None for p in seq.prompt_logprobs or []]
            prompt_steps = prompt_steps or [None] * len(seq.prompt.ids)
            if reply.echo_only:
                ids, steps, text = seq.prompt.ids, prompt_steps, reply.prompt_text(seq.prompt)
            else:
                ids, steps = [*seq.prompt.ids, *ids], [*prompt_steps, *steps]
                text = reply.prompt_text(seq.prompt) + text
        out.append(
            {
                "index": len(out),
                "text": text,
                "logprobs": _logprobs_json(reply, seq, ids, steps),
                "finish_reason": choice.finish_reason,
                "stop_reason": choice.stop_reason,
                "token_ids": choice.token_ids if req.return_token_ids else None,
                "prompt_logprobs": (
                    prompt_logprobs_json(seq.prompt_logprobs, reply.namer)
                    if seq.prompt_logprobs is not None
                    else None
                ),
                "prompt_token_ids": seq.prompt.ids if req.return_token_ids else None,
                "routed_experts": None,
                "weight_versions": None,
            }
        )
    prompt_tokens, completion_tokens = run.usage()
    return {
        **reply.head_fields(),
        "choices": out,
        "service_tier": None,
        "system_fingerprint": reply.served.fingerprint,
        "usage": usage_json(prompt_tokens, completion_tokens, details=True),
        "kv_transfer_params": None,
        "ec_transfer_params": None,
        "metrics": None,
    }


async def _stream(reply: _Reply, run: Run, start: EngineStart) -> AsyncIterator[str]:
    req = reply.req
    options = StreamOptions.of(req.stream_options, req.stream_interval)
    echoed: set[int] = set()
    offsets = {seq.index: 0 for seq in run.sequences}
    counts = {seq.index: 0 for seq in run.sequences}
    pending: dict[int, list[Any]] = {seq.index: [] for seq in run.sequences}
    try:
        await start()
        async for seq, delta in run.deltas():
            counts[seq.index] += 1
            batch = pending[seq.index]
            batch.append(delta)
            if not options.send_now(counts[seq.index], delta.finish_reason is not None):
                continue
            pending[seq.index] = []
            yield _chunk(reply, seq, batch, seq.index not in echoed, offsets, counts, options)
            echoed.add(seq.index)
    except Exception as exc:
        yield error_event(exc)
        yield "data: [DONE]\n\n"
        return
    usage = run.usage() if options.include_usage else None
    for event in stream_end(reply.head_fields(), reply.served.fingerprint, usage):
        yield event


def _chunk(
    reply: _Reply,
    seq: Sequence,
    batch: list[Any],
    first: bool,
    offsets: dict[int, int],
    counts: dict[int, int],
    options: StreamOptions,
) -> str:
    """One ``CompletionStreamResponse`` chunk, written directly: this runs per token."""
    req, last = reply.req, batch[-1]
    text = "".join(d.text for d in batch)
    ids = [d.token_id for d in batch]
    steps = [d.logprobs for d in batch]
    prompt_ids = None
    if first and (req.echo or req.return_token_ids):
        prompt_ids = seq.prompt.ids
    if first and req.echo:
        prompt_steps = [p.logprobs if p else None for p in seq.prompt_logprobs or []]
        prompt_steps = prompt_steps or [None] * len(seq.prompt.ids)
        if reply.echo_only:
            text, ids, steps = reply.prompt_text(seq.prompt), seq.prompt.ids, prompt_steps
        else:
            text = reply.prompt_text(seq.prompt) + text
            ids, steps = [*seq.prompt.ids, *ids], [*prompt_steps, *steps]
    logprobs = _logprobs_json(reply, seq, ids, steps, offsets[seq.index])
    if logprobs and logprobs["tokens"]:
        offsets[seq.index] = logprobs["text_offset"][-1] + len(logprobs["tokens"][-1])
    token_ids = [d.token_id for d in batch] if req.return_token_ids else None
    parts = [
        reply.head,
        ',"choices":[{"index":',
        str(seq.index),
        ',"text":',
        dumps(text),
        ',"logprobs":',
        dumps(logprobs),
        ',"finish_reason":',
        dumps(last.finish_reason),
        ',"stop_reason":',
        dumps(last.stop_reason),
        ',"prompt_token_ids":',
        dumps(prompt_ids),
        ',"token_ids":',
        dumps(token_ids),
        ',"weight_versions":null}],"kv_transfer_params":null',
    ]
    if options.continuous_usage:
        parts += [',"usage":', dumps(usage_json(seq.outcome.prompt_tokens, counts[seq.index]))]
    if last.finish_reason is not None and not options.include_usage:
        parts += [',"system_fingerprint":', dumps(reply.served.fingerprint)]
    return "data: " + "".join(parts) + "}\n\n"
