"""A floor for bench_middleware: the least a middleware does that gives requests their ids.

``RequestIdFloor`` does only what the engine and the client must see of a request id, as
ProductionMiddleware does it: the request the engine gets carries an ``X-Request-Id`` (a
new one unless the client sent one), and the response carries ``X-Request-Id`` and a
``traceparent`` (new trace and span ids). No gate, metrics, access log, trace context read
from the request, or validation. The server is ``vllm-deploy serve --no-middleware`` (the
bench's ``off``) with this layer outermost, so the difference to ``off`` is what this
little costs: a middleware that keeps those three headers can hardly cost less.

Usage: python benchmarks/floor_server.py serve --no-middleware [serve options]
"""

from __future__ import annotations

from random import getrandbits

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vllm_deploy import cli, engine_server
from vllm_deploy.runtime.gate import AdminGate
from vllm_deploy.runtime.settings import MiddlewareSettings


class RequestIdFloor:
    """Usage: ``RequestIdFloor(app)``: X-Request-Id in; X-Request-Id and traceparent out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        if request_id is None:
            request_id = f"{getrandbits(128):032x}".encode()
            scope = {**scope, "headers": [*scope["headers"], (b"x-request-id", request_id)]}
        traceparent = f"00-{getrandbits(128):032x}-{getrandbits(64):016x}-00".encode()
        extra = ((b"x-request-id", request_id), (b"traceparent", traceparent))

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, add_headers)


def _floor_outside_gate(app: ASGIApp, settings: MiddlewareSettings) -> ASGIApp:
    return RequestIdFloor(AdminGate(app, settings))


if __name__ == "__main__":
    # `serve --no-middleware` wraps the engine in AdminGate alone: put the floor outside it,
    # so the server is the bench's `off` in every other respect.
    engine_server.AdminGate = _floor_outside_gate  # type: ignore[assignment,misc]
    cli.main()
