"""HTTP plumbing for the OpenAI routes: bounded JSON bodies, disconnect-aware responses."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from vllm_deploy.engines.errors import OpenAIError

__all__ = [
    "ClientGone",
    "DisconnectAwareStreamingResponse",
    "complete_or_gone",
    "read_bounded",
    "read_json",
    "unless_disconnected",
]

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its (non-streamed) response was ready."""


async def read_bounded(request: Request, limit: int) -> bytearray:
    """The request body; 413 when its declared or actual length passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise OpenAIError(
            413, f"Request body of {declared} bytes exceeds the limit of {limit} bytes."
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise OpenAIError(413, f"Request body exceeds the limit of {limit} bytes.")
    return body


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 past ``limit`` bytes, 400 when not JSON."""
    body = await read_bounded(request, limit)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise OpenAIError(400, f"Malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise OpenAIError(400, "The request body must be a JSON object.")
    return data


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Runs ``work`` but cancels it (returning None) as soon as the client disconnects.

    Must be called after the body was read: then the only message left is the disconnect.
    """
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_wait_disconnect(request.receive))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
        # Let the cancelled side finish unwinding (it frees the batch slot on the way).
        await asyncio.gather(task, watch, return_exceptions=True)
    if task.cancelled():
        return None
    return task.result()


async def complete_or_gone(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result; ``ClientGone`` (answered 499) if the client left first."""
    result = await unless_disconnected(request, work)
    if result is None:
        raise ClientGone
    return result


class DisconnectAwareStreamingResponse(StreamingResponse):
    """Streams while watching for the client's disconnect, whatever the ASGI spec version.

    Starlette relies on a failing ``send`` under ASGI 2.4, which a request still queued or in
    prefill never reaches; here the body iterator is closed the moment the client goes away,
    so the request frees its batch slot at once.
    """

    async def stream_response(self, send: Send) -> None:
        iterator = self.body_iterator
        async with aclosing(iterator):  # type: ignore[type-var]
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for chunk in iterator:
                body = (
                    chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
                )
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                # A lost connection fails `send`; the watcher then sees the disconnect.
                with contextlib.suppress(OSError):
                    await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await _wait_disconnect(receive)
            group.cancel_scope.cancel()
