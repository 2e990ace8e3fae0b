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
from typing import Any

from starlette.types import Scope

from vllm_deploy.runtime.logs import JsonFormatter, UtcTime

__all__ = ["ACCESS_LOGGER", "AccessLog", "ResponseObserver"]

ACCESS_LOGGER = logging.getLogger("vllm_deploy.access")

_JSON_LIMIT = 1 << 20  # larger JSON bodies are not read for usage
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
    chunk, ``finish()`` at the end; then read ``status``, ``model``, ``prompt_tokens`` ...
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
                    self._read(line[6:])

    def finish(self) -> None:
        if self._chunks and self._size <= _JSON_LIMIT:
            self._read(self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks))

    def _read(self, raw: bytes) -> None:
        if self.model is None and (at := raw.find(_MODEL_KEY)) >= 0:
            model = _value_at(raw, at, _MODEL_KEY, _MODEL_WINDOW)
            if model is None:
                model = _value_at(raw, at, _MODEL_KEY)
            if isinstance(model, str):
                self.model = model
        if (at := raw.rfind(_USAGE_KEY)) >= 0:
            usage = _value_at(raw, at, _USAGE_KEY, _USAGE_WINDOW)
            if usage is None:
                usage = _value_at(raw, at, _USAGE_KEY)
            if isinstance(usage, dict):
                self.prompt_tokens = _count(usage.get("prompt_tokens"))
                self.completion_tokens = _count(usage.get("completion_tokens"))


def _s(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def _n(value: float | None) -> str:
    return "null" if value is None else repr(value)


class AccessLog:
    """Writes the access lines. Usage: ``log.write(scope, observer, start, end, ...)``.

    A line is what ``JsonFormatter`` makes of a record ``request`` whose extra fields are
    ``fields(...)``. When the access logger's lines reach exactly one handler, a
    ``StreamHandler`` with ``JsonFormatter`` and no filters (the configuration in
    ``logging.json``, which vLLM loads too through ``VLLM_LOGGING_CONFIG_PATH``), the same
    line, byte for byte, is written to its stream directly, as its ``emit`` would: no
    LogRecord, no dict, no second pass (most of the access log's cost per request). Any
    other configuration gets a record through ``logging``, as usual.
    """

    def __init__(self, logger: logging.Logger = ACCESS_LOGGER) -> None:
        self._logger = logger
        self._time = UtcTime()
        self._head = (
            f'{{"time": "{{}}", "level": "INFO", "logger": {_json_str(logger.name)}, '
            '"message": "request", '
        )

    @staticmethod
    def fields(
        scope: Scope,
        observer: ResponseObserver,
        start: float,
        end: float,
        request_id: str | None,
        trace_id: str | None,
        span_id: str | None,
        forwarded: str | None,
    ) -> dict[str, Any]:
        """The line's fields, in order; ``forwarded_for`` only when a proxy sent one."""
        client = scope.get("client")
        first_byte = observer.first_byte_at
        fields: dict[str, Any] = {
            "request_id": request_id,
            "trace_id": trace_id,
            "span_id": span_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": observer.status or 500,
            "duration_ms": round((end - start) * 1000, 3),
            "ttfb_ms": None if first_byte is None else round((first_byte - start) * 1000, 3),
            "prompt_tokens": observer.prompt_tokens,
            "completion_tokens": observer.completion_tokens,
            "model": observer.model,
            "client": f"{client[0]}:{client[1]}" if client else None,
        }
        if forwarded:
            fields["forwarded_for"] = forwarded
        return fields

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
        if self._logger.disabled:  # as Logger.handle (dictConfig's disable_existing_loggers)
            return
        handler = self._direct_handler()
        if handler is None:
            fields = self.fields(
                scope, observer, start, end, request_id, trace_id, span_id, forwarded
            )
            record = self._logger.makeRecord(
                self._logger.name, logging.INFO, __file__, 0, "request", (), None, extra=fields
            )
            self._logger.handle(record)
            return
        client = scope.get("client")
        first_byte = observer.first_byte_at
        ttfb = "null" if first_byte is None else repr(round((first_byte - start) * 1000, 3))
        line = (
            self._head.replace("{}", self._time(time.time()), 1)
            + f'"request_id": {_s(request_id)}, "trace_id": {_s(trace_id)}, '
            f'"span_id": {_s(span_id)}, '
            f'"method": {_json_str(scope["method"])}, "path": {_json_str(scope["path"])}, '
            f'"status": {observer.status or 500}, '
            f'"duration_ms": {round((end - start) * 1000, 3)!r}, '
            f'"ttfb_ms": {ttfb}, '
            f'"prompt_tokens": {_n(observer.prompt_tokens)}, '
            f'"completion_tokens": {_n(observer.completion_tokens)}, '
            f'"model": {_s(observer.model)}, '
            f'"client": {_s(f"{client[0]}:{client[1]}" if client else None)}'
            + (f', "forwarded_for": {_json_str(forwarded)}}}' if forwarded else "}")
            + handler.terminator
        )
        handler.acquire()
        try:
            handler.stream.write(line)
            handler.flush()
        except RecursionError:  # as StreamHandler.emit
            raise
        except Exception:  # as StreamHandler.emit: report it, never fail the request
            record = self._logger.makeRecord(
                self._logger.name, logging.INFO, __file__, 0, line, (), None
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
