"""Liveness, readiness and drain: the middleware's own routes."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Scope, Send

from vllm_deploy.runtime.asgi import send_error, send_json
from vllm_deploy.runtime.lifecycle import Lifecycle
from vllm_deploy.runtime.settings import MiddlewareSettings

__all__ = ["Probes"]

logger = logging.getLogger("vllm_deploy.runtime")


class Probes:
    """``/health/live``, ``/health/ready``, ``POST /admin/drain`` and ``POST /admin/undrain``.

    Usage: ``Probes(engine_app, lifecycle, settings).ready(scope, send)``.
    """

    def __init__(
        self,
        app: ASGIApp,
        lifecycle: Lifecycle,
        settings: MiddlewareSettings,
        sleeping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._app = app
        self._lifecycle = lifecycle
        self._settings = settings
        self._sleeping = sleeping

    async def live(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, 405, "use GET /health/live", "MethodNotAllowed")
        elif self._lifecycle.stalled():
            body = {
                "status": "stalled",
                "in_flight": self._lifecycle.in_flight,
                "stall_seconds": self._settings.watchdog_stall_s,
            }
            await send_json(send, 503, body)
        else:
            await send_json(send, 200, {"status": "alive"})

    async def ready(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, 405, "use GET /health/ready", "MethodNotAllowed")
        elif self._lifecycle.draining:
            await send_json(send, 503, {"status": "draining"})
        elif self._lifecycle.stalled():  # out of the Service at once, while liveness restarts it
            await send_json(send, 503, {"status": "stalled"})
        elif self._sleeping():  # vLLM's /health stays 200 while its engine sleeps
            await send_json(send, 503, {"status": "sleeping"})
        elif await self._engine_healthy(scope):
            await send_json(send, 200, {"status": "ready"})
        else:
            await send_json(send, 503, {"status": "engine not healthy"})

    async def drain(self, scope: Scope, send: Send) -> None:
        if scope["method"] != "POST":
            await send_error(send, 405, "use POST /admin/drain", "MethodNotAllowed")
            return
        query = parse_qs(scope.get("query_string", b"").decode())
        args: dict[str, float] = {
            "timeout": self._settings.drain_timeout_s,
            "quiet": self._settings.drain_quiet_s,
        }
        for name in args:
            if name in query:
                try:
                    args[name] = float(query[name][0])
                except ValueError:
                    args[name] = math.nan
                if not args[name] >= 0:
                    await send_error(
                        send,
                        400,
                        f"{name} has value {query[name][0]!r}: expected seconds >= 0",
                        "BadRequestError",
                    )
                    return
        logger.info("drain started", extra={"timeout_s": args["timeout"], "quiet_s": args["quiet"]})
        result = await self._lifecycle.drain(timeout_s=args["timeout"], quiet_s=args["quiet"])
        logger.info(
            "drain ended",
            extra={
                "drained": result.drained,
                "reason": result.reason,
                "in_flight": result.in_flight,
                "duration_seconds": round(result.duration_seconds, 3),
            },
        )
        await send_json(
            send,
            200,
            {
                "drained": result.drained,
                "reason": result.reason,
                "in_flight": result.in_flight,
                "duration_seconds": round(result.duration_seconds, 3),
            },
        )

    async def undrain(self, scope: Scope, send: Send) -> None:
        if scope["method"] != "POST":
            await send_error(send, 405, "use POST /admin/undrain", "MethodNotAllowed")
            return
        self._lifecycle.undrain()
        await send_json(send, 200, {"draining": False})

    async def _engine_healthy(self, scope: Scope) -> bool:
        """Asks the wrapped engine's own ``GET /health``, in process."""
        status: list[int] = []
        requested, answered = asyncio.Event(), asyncio.Event()

        async def receive() -> Message:
            if not requested.is_set():
                requested.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await answered.wait()  # then the "client" goes away, as a real one would
            return {"type": "http.disconnect"}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        probe: dict[str, Any] = {
            **scope,
            "method": "GET",
            "path": "/health",
            "raw_path": b"/health",
            "query_string": b"",
        }
        try:
            await asyncio.wait_for(
                self._app(probe, receive, capture), self._settings.engine_health_timeout_s
            )
        except Exception:  # a failing or hung engine is simply not ready
            return False
        return status == [200]
