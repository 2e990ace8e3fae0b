"""Server-sent events as vLLM 0.33.0 writes them: usage, stream intervals, in-band errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vllm_deploy.contract import error_body
from vllm_deploy.engines.base import EngineError
from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.protocol.base import StreamOptions as RequestStreamOptions

__all__ = [
    "StreamOptions",
    "dumps",
    "error_event",
    "head_json",
    "sse",
    "stream_end",
    "usage_json",
]

logger = logging.getLogger("vllm_deploy.engine")


@dataclass(frozen=True)
class StreamOptions:
    """vLLM's ``should_include_usage`` and ``stream_interval`` for one request."""

    include_usage: bool
    continuous_usage: bool
    interval: int

    @classmethod
    def of(cls, options: RequestStreamOptions | None, interval: int | None) -> StreamOptions:
        include = bool(options and options.include_usage)
        continuous = include and bool(options and options.continuous_usage_stats)
        return cls(include, continuous, interval or 1)

    def send_now(self, tokens: int, finished: bool) -> bool:
        """Every ``interval`` tokens; the first and the last at once."""
        return finished or tokens == 1 or (tokens - 1) % self.interval == 0


def usage_json(prompt: int, completion: int, details: bool = False) -> dict[str, Any]:
    """vLLM's ``UsageInfo``; non-streamed answers also carry its (empty) details."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }
    if details:
        usage.update(prompt_tokens_details=None, completion_tokens_details=None)
    return usage


_encode = json.JSONEncoder(separators=(",", ":")).encode


def dumps(value: Any) -> str:
    """Compact JSON; the per-token stream chunks are put together from such pieces."""
    return "null" if value is None else _encode(value)


def head_json(rid: str, obj: str, created: int, model: str) -> str:
    """The fields every chunk of a stream starts with, as a JSON object missing its ``}``."""
    return f'{{"id":{dumps(rid)},"object":{dumps(obj)},"created":{created},"model":{dumps(model)}'


def sse(event: dict[str, Any]) -> str:
    return f"data: {_encode(event)}\n\n"


def error_event(exc: Exception) -> str:
    """An error after the stream started: in-band, as vLLM reports it, then ``[DONE]``."""
    if isinstance(exc, VllmValidationError):
        body = error_body(str(exc), "BadRequestError", 400, exc.parameter)
    elif isinstance(exc, EngineError):
        body = error_body(str(exc), "InternalServerError", 500)
    else:
        logger.exception("error in a stream", exc_info=exc)
        body = error_body("internal server error", "InternalServerError", 500)
    return f"data: {json.dumps(body)}\n\n"


def stream_end(
    head: dict[str, Any], fingerprint: str | None, usage: tuple[int, int] | None
) -> Iterator[str]:
    """The end of a completions or chat stream: with ``include_usage``, a chunk with no
    choices and the totals (``usage``: prompt and completion tokens); then ``[DONE]``."""
    if usage is not None:
        yield sse(
            {
                **head,
                "choices": [],
                "usage": usage_json(*usage),
                "system_fingerprint": fingerprint,
            }
        )
    yield "data: [DONE]\n\n"
