"""`/v1/completions` and `/v1/chat/completions` over any engine, in vLLM's response shapes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vllm_deploy.engines.base import Engine, EngineError, SamplingParams
from vllm_deploy.engines.errors import OpenAIError
from vllm_deploy.engines.generation import Generation, Generator
from vllm_deploy.engines.http_io import (
    DisconnectAwareStreamingResponse,
    parse_body,
    read_json,
    unless_disconnected,
)
from vllm_deploy.engines.openai_api import ChatCompletionRequest, CompletionRequest, SamplingFields

__all__ = ["ClientGone", "OpenAIRoutes"]


class ClientGone(Exception):
    """The client disconnected before its (non-streamed) response was ready."""


Chunk = Callable[[str | None, str | None], dict[str, Any]]


@dataclass(frozen=True)
class _Prepared:
    prompt_ids: list[int]
    params: SamplingParams
    stop: list[str]
    max_tokens_param: int | None


class OpenAIRoutes:
    """The two generation endpoints; ``ready`` gates them while the engine loads."""

    def __init__(
        self,
        engine: Engine,
        generator: Generator,
        model_name: str,
        max_model_len: int,
        body_limit: int,
        ready: Callable[[], bool],
    ) -> None:
        self._engine = engine
        self._generator = generator
        self._model_name = model_name
        self._max_model_len = max_model_len
        self._body_limit = body_limit
        self._ready = ready

    async def completions(self, request: Request) -> Response:
        body = parse_body(CompletionRequest, await read_json(request, self._body_limit))
        self._check_model(body)
        if isinstance(body.prompt, str):
            ids = self._engine.tokenizer.encode(body.prompt)
        else:
            ids = self._check_token_ids(body.prompt)
        # Only an explicit max_tokens counts as asked for (16 is OpenAI's default for completions).
        asked = body.max_tokens if "max_tokens" in body.model_fields_set else None
        prep = self._prepare(body, ids, "prompt", body.max_tokens, asked)
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(text: str | None, finish: str | None) -> dict[str, Any]:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            return {
                "id": rid,
                "object": "text_completion",
                "created": created,
                "model": self._model_name,
                "choices": [choice],
            }

        if body.stream:
            return self._stream(prep, body, chunk, first_delta=None)
        outcome, text = await self._complete(request, prep)
        result = chunk(text, outcome.finish_reason)
        result["choices"][0]["stop_reason"] = None
        result["usage"] = _usage(outcome)
        return JSONResponse(result)

    async def chat_completions(self, request: Request) -> Response:
        body = parse_body(ChatCompletionRequest, await read_json(request, self._body_limit))
        self._check_model(body)
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        tokenizer = self._engine.tokenizer
        prompt = tokenizer.apply_chat_template(messages, body.add_generation_prompt)
        ids = tokenizer.encode(prompt, add_special_tokens=False)
        asked = body.effective_max_tokens()
        prep = self._prepare(body, ids, "messages", asked, asked)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(text: str | None, finish: str | None) -> dict[str, Any]:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {
                "id": rid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self._model_name,
                "choices": [choice],
            }

        if body.stream:
            first = chunk("", None)
            first["choices"][0]["delta"]["role"] = "assistant"
            return self._stream(prep, body, chunk, first_delta=first)
        outcome, text = await self._complete(request, prep)
        message = {"role": "assistant", "content": text}
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": outcome.finish_reason,
            "stop_reason": None,
        }
        return JSONResponse(
            {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": self._model_name,
                "choices": [choice],
                "usage": _usage(outcome),
            }
        )

    def _check_model(self, body: SamplingFields) -> None:
        if not self._ready():
            raise OpenAIError(503, "The engine is still loading the model; retry shortly.")
        if body.model and body.model != self._model_name:
            raise OpenAIError(
                404,
                f"The model `{body.model}` does not exist. Valid aliases: {self._model_name}.",
                param="model",
            )

    def _check_token_ids(self, ids: list[int]) -> list[int]:
        vocab = self._engine.tokenizer.vocab_size
        bad = [i for i in ids if not 0 <= i < vocab]
        if bad:
            raise OpenAIError(
                400,
                f"prompt: token id {bad[0]} is outside the vocabulary [0, {vocab}).",
                param="prompt",
            )
        return ids

    def _prepare(
        self,
        body: SamplingFields,
        ids: list[int],
        field: str,
        max_tokens: int | None,
        asked: int | None,
    ) -> _Prepared:
        room = self._max_model_len - len(ids)
        if room < 1:
            raise OpenAIError(
                400,
                f"{field}: This model's maximum context length is {self._max_model_len} tokens. "
                f"However, your prompt contains {len(ids)} input tokens, which leaves no room for "
                "output tokens. Please reduce the length of the input prompt.",
                param=field,
            )
        # As vLLM 0.33.0 does: max_tokens beyond the context is clamped, not refused.
        limit = room if max_tokens is None else min(max_tokens, room)
        params = SamplingParams(
            max_tokens=limit,
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=body.top_k,
            seed=body.seed,
            ignore_eos=body.ignore_eos,
            explicit_max_tokens=asked is not None,
        )
        return _Prepared(ids, params, body.stop_strings(), asked)

    async def _complete(self, request: Request, prep: _Prepared) -> tuple[Generation, str]:
        outcome = Generation(prompt_tokens=len(prep.prompt_ids))

        async def collect() -> str:
            parts = [d async for d in self._run(prep, outcome)]
            return "".join(parts)

        text = await unless_disconnected(request, collect())
        if text is None:
            raise ClientGone
        return outcome, text

    def _run(self, prep: _Prepared, outcome: Generation) -> AsyncIterator[str]:
        return self._generator.stream(
            prep.prompt_ids, prep.params, prep.stop, outcome, prep.max_tokens_param
        )

    def _stream(
        self,
        prep: _Prepared,
        body: SamplingFields,
        chunk: Chunk,
        first_delta: dict[str, Any] | None,
    ) -> Response:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        outcome = Generation(prompt_tokens=len(prep.prompt_ids))

        async def events() -> AsyncIterator[str]:
            if first_delta is not None:
                yield _sse(first_delta)
            try:
                async for delta in self._run(prep, outcome):
                    yield _sse(_with_usage(chunk(delta, None), include_usage))
            except EngineError as exc:
                # Headers are sent: report in-band, as vLLM does, then end the stream.
                yield _sse(
                    {
                        "error": {
                            "message": str(exc),
                            "type": "InternalServerError",
                            "param": None,
                            "code": 500,
                        }
                    }
                )
                yield "data: [DONE]\n\n"
                return
            yield _sse(_with_usage(chunk(None, outcome.finish_reason), include_usage))
            if include_usage:
                final = chunk(None, None)
                final["choices"] = []
                final["usage"] = _usage(outcome)
                yield _sse(final)
            yield "data: [DONE]\n\n"

        return DisconnectAwareStreamingResponse(events(), media_type="text/event-stream")


def _with_usage(event: dict[str, Any], include_usage: bool) -> dict[str, Any]:
    if include_usage:
        event["usage"] = None
    return event


def _usage(outcome: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    }


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n"
