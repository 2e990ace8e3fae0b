"""One JSON access-log line per request, with what the response says about tokens.

The observer reads `model` and `usage` from the response itself (a JSON body, or the SSE
event that carries `usage`), so it works the same over vLLM and the GPU-free engines.
Streams without ``stream_options.include_usage`` have no usage: their token fields are null.

This is the middleware's hot path, so the body is not parsed whole: ``"model":`` and the
last ``"usage":`` key are found in the raw bytes and only their values are decoded. Inside
a JSON string a quote is always escaped, so those byte sequences are keys, never text.
"""

from __future__ import annotations

import json
import logging
import time
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any, NamedTuple

from starlette.types import Scope

from vllm_deploy.runtime.deferred import Deferred
from vllm_deploy.runtime.logs import JsonFormatter, UtcTime

__all__ = ["ACCESS_LOGGER", "AccessLog", "ResponseObserver"]

ACCESS_LOGGER = logging.getLogger("vllm_deploy.access")

_JSON_LIMIT = 1 << 20  # larger JSON bodies are not read for usage
# A waiting access line keeps its response's JSON body up to this size; a larger one is read
# when the request ends (a full batch of waiting lines then holds at most 16 MiB).
_DEFER_BODY_LIMIT = 16 << 10
_DECODER = json.JSONDecoder()
_MODEL_KEY, _USAGE_KEY = b'"model":', b'"usage":'
# Bytes after the key that hold its value; a longer value takes the slow path (the rest).
_MODEL_WINDOW, _USAGE_WINDOW = 512, 4096


def _value_at(raw: bytes, key_at: int, key: bytes, window: int | None = None) -> Any:
    """The JSON value after ``key`` found at ``key_at``; None when it does not parse."""
    start = key_at + len(key)
    chunk = raw[start : start + window] if window else raw[start:]
    text = chunk.decode("utf-8", "replace").lstrip()
    try:
        return _DECODER.raw_decode(text)[0]
    except ValueError:
        return None


def _count(value: object) -> int | None:
    return value if type(value) is int else None


class ResponseObserver:
    """Watches one response's ASGI messages: status, first byte, model, usage.

    Usage: ``on_start(message)`` on ``http.response.start``, ``on_body(chunk)`` per body
    chunk; then read ``status`` and ``first_byte_at``, ``model`` and the tokens of a stream
    (read event by event), and ``take_body()`` for a JSON body's (``model_in``, ``usage_in``).
    ``read_tokens=False`` (no access log) reads the status only.
    """

    __slots__ = (
        "_chunks",
        "_kind",
        "_read_tokens",
        "_size",
        "completion_tokens",
        "first_byte_at",
        "model",
        "prompt_tokens",
        "status",
    )

    def __init__(self, read_tokens: bool = True) -> None:
        self.status = 0
        self.first_byte_at: float | None = None
        self.model: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self._kind = ""
        self._chunks: list[bytes] = []
        self._size = 0
        self._read_tokens = read_tokens

    def on_start(self, message: Any) -> None:
        self.status = int(message["status"])
        for key, value in message.get("headers", ()):
            if key.lower() == b"content-type":
                ctype = bytes(value).lower()
                if ctype.startswith(b"application/json"):
                    self._kind = "json"
                elif ctype.startswith(b"text/event-stream"):
                    self._kind = "sse"
        if not self._read_tokens:
            self._kind = ""

    def on_body(self, body: bytes) -> None:
        if self._kind == "json":
            self._size += len(body)
            if self._size <= _JSON_LIMIT:
                self._chunks.append(body)
        elif self._kind == "sse" and (self.model is None or _USAGE_KEY in body):
            for line in body.split(b"\n"):
                if line.startswith(b"data: {"):
                    self.read(line[6:])

    def take_body(self) -> bytes | None:
        """The JSON body, for ``model_in`` and ``usage_in`` to read later; the observer lets
        go of it. None when there is none to read (not JSON, empty, or over 1 MiB)."""
        chunks, self._chunks = self._chunks, []
        if not chunks or self._size > _JSON_LIMIT:
            return None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def read(self, raw: bytes) -> None:
        """Takes ``model`` and ``usage`` from a JSON text (a body, or one SSE event's data)."""
        if self.model is None:
            self.model = model_in(raw)
        if (usage := usage_in(raw)) is not None:
            self.prompt_tokens, self.completion_tokens = usage


def model_in(raw: bytes) -> str | None:
    """The first ``"model":`` string value in a JSON text."""
    if (at := raw.find(_MODEL_KEY)) < 0:
        return None
    model = _value_at(raw, at, _MODEL_KEY, _MODEL_WINDOW)
    if model is None:
        model = _value_at(raw, at, _MODEL_KEY)
    return model if isinstance(model, str) else None


def usage_in(raw: bytes) -> tuple[int | None, int | None] | None:
    """(prompt, completion) tokens of the last ``"usage":`` object; None without one."""
    if (at := raw.rfind(_USAGE_KEY)) < 0:
        return None
    usage = _value_at(raw, at, _USAGE_KEY, _USAGE_WINDOW)
    if usage is None:
        usage = _value_at(raw, at, _USAGE_KEY)
    if not isinstance(usage, dict):
        return None
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _s(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def _n(value: float | None) -> str:
    return "null" if value is None else repr(value)


# A waiting line holds no object the garbage collector tracks (it waits long enough to be
# promoted to an older generation, where every tracked object costs at each collection):
# time, method, path, client, status, start, end, first byte, request, trace and span ids,
# forwarded-for, model, prompt and completion tokens, and the JSON body still to read.
_Line = tuple[
    float,
    str,
    str,
    "tuple[str, int] | None",
    int,
    float,
    float,
    float | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    int | None,
    int | None,
    bytes | None,
]


class _Values(NamedTuple):
    """An access line's fields, in order, as ``JsonFormatter`` writes them."""

    request_id: str | None
    trace_id: str | None
    span_id: str | None
    method: str
    path: str
    status: int
    duration_ms: float
    ttfb_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None
    client: str | None
    forwarded_for: str | None


def _capture(
    scope: Scope,
    observer: ResponseObserver,
    start: float,
    end: float,
    request_id: str | None,
    trace_id: str | None,
    span_id: str | None,
    forwarded: str | None,
) -> _Line:
    """What a line needs, taken when its request ends; the observer lets go of the body."""
    body = observer.take_body()
    if body is not None and len(body) > _DEFER_BODY_LIMIT:  # waiting lines hold no big body
        observer.read(body)
        body = None
    return (
        time.time(),
        scope["method"],
        scope["path"],
        scope.get("client"),
        observer.status or 500,
        start,
        end,
        observer.first_byte_at,
        request_id,
        trace_id,
        span_id,
        forwarded,
        observer.model,
        observer.prompt_tokens,
        observer.completion_tokens,
        body,
    )


def _values(line: _Line) -> _Values:
    """The fields of a captured line; a JSON body's ``model`` and ``usage`` are read now."""
    (_, method, path, client, status, start, end, first_byte) = line[:8]
    (request_id, trace_id, span_id, forwarded, model, prompt, completion, body) = line[8:]
    if body is not None:
        model = model_in(body)
        if (usage := usage_in(body)) is not None:
            prompt, completion = usage
    return _Values(
        request_id,
        trace_id,
        span_id,
        method,
        path,
        status,
        round((end - start) * 1000, 3),
        None if first_byte is None else round((first_byte - start) * 1000, 3),
        prompt,
        completion,
        model,
        f"{client[0]}:{client[1]}" if client else None,
        forwarded,
    )


def _fields(line: _Line) -> dict[str, Any]:
    """A captured line's fields, in order; ``forwarded_for`` only when a proxy sent one."""
    fields = _values(line)._asdict()
    if not fields["forwarded_for"]:
        del fields["forwarded_for"]
    return fields


class AccessLog:
    """Writes the access lines. Usage: ``log.write(scope, observer, start, end, ...)``.

    A line is what ``JsonFormatter`` makes of a record ``request`` whose extra fields are
    ``_fields(line)``. When the access logger's lines reach exactly one handler, a
    ``StreamHandler`` with ``JsonFormatter`` and no filters (the configuration in
    ``logging.json``, which vLLM loads too through ``VLLM_LOGGING_CONFIG_PATH``), the same
    line, byte for byte, is written to its stream directly, as its ``emit`` would: no
    LogRecord, no dict, no second pass; and with ``delay_s`` > 0 the lines of requests that
    end within ``delay_s`` of each other are made and written together, at most ``delay_s``
    after the first ends (``runtime.deferred``; ``flush()`` writes them now). Any other
    configuration gets a record through ``logging`` at once, as usual.
    """

    def __init__(self, logger: logging.Logger = ACCESS_LOGGER, delay_s: float = 0.0) -> None:
        self._logger = logger
        self._time = UtcTime()
        self._head = (
            f'{{"time": "{{}}", "level": "INFO", "logger": {_json_str(logger.name)}, '
            '"message": "request", '
        )
        self._handler: logging.StreamHandler[Any] | None = None  # the waiting lines' handler
        self._lines: Deferred[_Line] = Deferred(self._write_lines, delay_s)

    def write(
        self,
        scope: Scope,
        observer: ResponseObserver,
        start: float,
        end: float,
        request_id: str | None,
        trace_id: str | None,
        span_id: str | None,
        forwarded: str | None,
    ) -> None:
        """The request's line; the observer must see no more of the response afterwards."""
        if self._logger.disabled:  # as Logger.handle (dictConfig's disable_existing_loggers)
            return
        line = _capture(scope, observer, start, end, request_id, trace_id, span_id, forwarded)
        handler = self._direct_handler()
        if handler is None:
            fields = _fields(line)
            record = self._logger.makeRecord(
                self._logger.name, logging.INFO, __file__, 0, "request", (), None, extra=fields
            )
            self._logger.handle(record)
            return
        if handler is not self._handler:  # the logging configuration changed
            self._lines.flush()
            self._handler = handler
        self._lines.add(line)

    def flush(self) -> None:
        """Writes the waiting lines now."""
        self._lines.flush()

    def _write_lines(self, lines: list[_Line]) -> None:
        handler = self._handler
        assert handler is not None  # set before any line waits
        end = handler.terminator
        self._emit(handler, end.join([self._line(line) for line in lines]) + end)

    def _line(self, line: _Line) -> str:
        v = _values(line)
        return (
            self._head.replace("{}", self._time(line[0]), 1)
            + f'"request_id": {_s(v.request_id)}, "trace_id": {_s(v.trace_id)}, '
            f'"span_id": {_s(v.span_id)}, '
            f'"method": {_json_str(v.method)}, "path": {_json_str(v.path)}, '
            f'"status": {v.status}, '
            f'"duration_ms": {v.duration_ms!r}, '
            f'"ttfb_ms": {_n(v.ttfb_ms)}, '
            f'"prompt_tokens": {_n(v.prompt_tokens)}, '
            f'"completion_tokens": {_n(v.completion_tokens)}, '
            f'"model": {_s(v.model)}, '
            f'"client": {_s(v.client)}'
            + (f', "forwarded_for": {_json_str(v.forwarded_for)}}}' if v.forwarded_for else "}")
        )

    def _emit(self, handler: logging.StreamHandler[Any], text: str) -> None:
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        except RecursionError:  # as StreamHandler.emit
            raise
        except Exception:  # as StreamHandler.emit: report it, never fail the request
            record = self._logger.makeRecord(
                self._logger.name, logging.INFO, __file__, 0, text, (), None
            )
            handler.handleError(record)
        finally:
            handler.release()

    def _direct_handler(self) -> logging.StreamHandler[Any] | None:
        handlers: list[logging.Handler] = []
        node: logging.Logger | None = self._logger
        while node is not None:
            if node.filters:
                return None
            handlers += node.handlers
            node = node.parent if node.propagate else None
        if len(handlers) != 1:
            return None
        (handler,) = handlers
        if (
            type(handler) is not logging.StreamHandler
            or type(handler.formatter) is not JsonFormatter
            or handler.filters
            or handler.level > logging.INFO
        ):
            return None
        return handler
