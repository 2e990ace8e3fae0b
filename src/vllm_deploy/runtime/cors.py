"""CORS headers on the middleware's own refusals (401, 403, 429), as the server's would be.

vLLM 0.33.0 adds its ``CORSMiddleware`` before the ``--middleware`` classes
(vllm/entrypoints/serve/middleware/register.py lines 24-69), and Starlette makes the last
added the outermost, so ProductionMiddleware runs outside vLLM's CORS layer: a refusal it
writes itself would reach a browser without ``Access-Control-Allow-Origin``, which the
browser reports as a CORS failure instead of the error. So a refusal to a request with an
``Origin`` goes through a copy of the server's own ``CORSMiddleware`` (same origins,
credentials and headers, from ``--allowed-origins`` and friends); without one, it has none.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from vllm_deploy.runtime.asgi import header

__all__ = ["CorsRefusals"]

Respond = Callable[[Send], Awaitable[None]]
_RESPOND = "vllm_deploy.respond"
_NOT_BUILT = object()


def _find_cors(app: ASGIApp) -> object:
    """The CORSMiddleware among the layers under ``app``; _NOT_BUILT before the first call."""
    node: object = app
    for _ in range(64):  # a middleware stack is a few layers deep; never loop forever
        if isinstance(node, CORSMiddleware):
            return node
        if isinstance(node, Starlette):  # builds its middleware stack on the first call
            if node.middleware_stack is None:
                return _NOT_BUILT
            node = node.middleware_stack
            continue
        node = getattr(node, "app", None)
        if node is None:
            break
    return None


async def _respond(scope: Scope, receive: Receive, send: Send) -> None:
    respond: Respond = scope[_RESPOND]
    await respond(send)


class CorsRefusals:
    """Usage: ``await cors.send(scope, receive, send, respond)``; ``respond(send)`` writes it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._searched = False
        self._cors: CORSMiddleware | None = None

    def _server_cors(self) -> CORSMiddleware | None:
        if not self._searched:
            found = _find_cors(self._app)
            if found is not _NOT_BUILT:
                self._searched = True
                if isinstance(found, CORSMiddleware):
                    self._cors = copy.copy(found)  # the server's settings, our response
                    self._cors.app = _respond
        return self._cors

    async def send(self, scope: Scope, receive: Receive, send: Send, respond: Respond) -> None:
        cors = self._server_cors() if header(scope, b"origin") is not None else None
        if cors is None:
            await respond(send)
        else:
            await cors({**scope, _RESPOND: respond}, receive, send)
