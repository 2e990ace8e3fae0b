"""One JSON access-log line per request, with what the response says about tokens.

The observer reads `model` and `usage` from the response itself (a JSON body, or the SSE
event that carries `usage`), so it works the same over vLLM and the GPU-free engines.
Streams without ``stream_options.include_usage`` have no usage: their token fields are null.
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["ACCESS_LOGGER", "ResponseObserver"]

ACCESS_LOGGER = logging.getLogger("vllm_deploy.access")

_JSON_LIMIT = 1 << 20  # larger JSON bodies are not parsed for usage


class ResponseObserver:
    """Watches one response's ASGI messages: status, first byte, model, usage.

    Usage: ``on_start(message)`` on ``http.response.start``, ``on_body(chunk)`` per body
    chunk, ``finish()`` at the end; then read ``status``, ``model``, ``prompt_tokens`` ...
    """

    def __init__(self) -> None:
        self.status = 0
        self.first_byte_at: float | None = None
        self.model: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self._kind = ""
        self._json = bytearray()

    def on_start(self, message: Any) -> None:
        self.status = int(message["status"])
        for key, value in message.get("headers", []):
            if key.lower() == b"content-type":
                ctype = bytes(value).lower()
                if ctype.startswith(b"application/json"):
                    self._kind = "json"
                elif ctype.startswith(b"text/event-stream"):
                    self._kind = "sse"

    def on_body(self, body: bytes) -> None:
        if self._kind == "json" and len(self._json) + len(body) <= _JSON_LIMIT:
            self._json += body
        elif self._kind == "sse" and (self.model is None or b'"usage":{' in body):
            for line in body.split(b"\n"):
                if line.startswith(b"data: {"):
                    self._read(line[6:])

    def finish(self) -> None:
        if self._kind == "json" and self._json:
            self._read(bytes(self._json))

    def _read(self, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        if isinstance(doc.get("model"), str):
            self.model = doc["model"]
        usage = doc.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("prompt_tokens")
            self.completion_tokens = usage.get("completion_tokens")
