"""ProductionMiddleware: what a vLLM pod needs to behave through its whole life.

Pure ASGI; vLLM loads it with ``--middleware vllm_deploy.runtime.ProductionMiddleware`` and
calls ``cls(app)``; configuration comes from ``VLLMDEPLOY_*`` variables (docs/runtime.md).
Per request, in order: probes -> open paths (/metrics, /health, CORS preflights) -> the
gate (admin routes from the pod itself, API key, in-flight limit) -> admin routes or the
engine, with a server span, a request id, token progress for the watchdog, metrics, and one
JSON access-log line. WebSocket sessions pass the same gate and count as in flight.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vllm_deploy.contract import GENERATION_PATHS, OPEN_PATHS
from vllm_deploy.runtime.access_log import ACCESS_LOGGER, ResponseObserver
from vllm_deploy.runtime.asgi import header, send_error
from vllm_deploy.runtime.auth import ApiKeys
from vllm_deploy.runtime.cors import CorsRefusals
from vllm_deploy.runtime.gate import Gate, Refusal, admin_scope
from vllm_deploy.runtime.lifecycle import Lifecycle
from vllm_deploy.runtime.metrics import MiddlewareMetrics, route_label
from vllm_deploy.runtime.probes import Probes
from vllm_deploy.runtime.settings import MiddlewareSettings, load_settings
from vllm_deploy.runtime.tracing import extract_context, make_tracer_provider

__all__ = ["ProductionMiddleware"]

_REQUEST_ID = re.compile(rb"[\w.:@/+=-]{1,128}")
_GENERATION_TOKENS = "vllm:generation_tokens_total"
# vLLM's sleep mode: {sleep_state="awake"} is 0 while the engine sleeps (vllm/v1/metrics/loggers.py).
_SLEEP_STATE = "vllm:engine_sleep_state"
logger = logging.getLogger("vllm_deploy.runtime")

Route = Callable[[Scope, Send], Awaitable[None]]


def _token_reader(registry: CollectorRegistry) -> Callable[[], float | None]:
    """Total generated tokens from the engine's own counter; None where it is not registered."""
    restricted = registry.restricted_registry([_GENERATION_TOKENS])

    def read() -> float | None:
        samples = [
            s.value for m in restricted.collect() for s in m.samples if s.name == _GENERATION_TOKENS
        ]
        return sum(samples) if samples else None

    return read


def _sleep_reader(registry: CollectorRegistry) -> Callable[[], bool]:
    """True while vLLM's engine sleeps (POST /sleep); False where the gauge is not registered."""
    restricted = registry.restricted_registry([_SLEEP_STATE])

    def sleeping() -> bool:
        return any(
            s.labels.get("sleep_state") == "awake" and s.value == 0
            for m in restricted.collect()
            for s in m.samples
            if s.name == _SLEEP_STATE
        )

    return sleeping


async def _send_refusal(refusal: Refusal, send: Send) -> None:
    await send_error(send, refusal.status, refusal.message, refusal.err_type, list(refusal.headers))


class ProductionMiddleware:
    """Usage: ``app = ProductionMiddleware(engine_app)``, or vLLM's ``--middleware``.

    The keyword arguments exist for tests and embedding; vLLM passes none.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: MiddlewareSettings | None = None,
        registry: CollectorRegistry | None = None,
        tracer_provider: TracerProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings if settings is not None else load_settings()
        registry = registry if registry is not None else REGISTRY
        self.metrics = MiddlewareMetrics(registry)
        self.keys = ApiKeys.from_settings(self.settings)
        self._gate = Gate(self.settings, self.keys)
        # The access log follows VLLMDEPLOY_LOG_LEVEL inside vLLM too (WARNING turns it off).
        ACCESS_LOGGER.setLevel(self.settings.log_level)
        if self.keys.enabled:
            logger.info("authentication: %d API keys", len(self.keys))
        else:
            logger.warning(
                "authentication disabled: no VLLMDEPLOY_API_KEY or VLLMDEPLOY_API_KEY_FILE"
            )
        self.lifecycle = Lifecycle(
            self.metrics, self.settings.watchdog_stall_s, _token_reader(registry), clock
        )
        self._provider = tracer_provider if tracer_provider is not None else make_tracer_provider()
        self._tracer = self._provider.get_tracer("vllm_deploy.runtime")
        self._clock = clock
        probes = Probes(app, self.lifecycle, self.settings, _sleep_reader(registry))
        self._cors = CorsRefusals(app)
        self._probes: dict[str, Route] = {
            "/health/live": probes.live,
            "/health/ready": probes.ready,
        }
        self._admin: dict[str, Route] = {
            "/admin/drain": probes.drain,
            "/admin/undrain": probes.undrain,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind != "http":
            await self.app(scope, receive, send)
        elif (probe := self._probes.get(scope["path"])) is not None:
            await self._untraced(scope, send, lambda s: probe(scope, s))
        elif scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            if scope["path"] == "/metrics":
                self.lifecycle.stalled()  # refresh the watchdog gauge for this scrape
            # CORS preflights carry no credentials by design; they reach no engine work.
            await self._untraced(scope, send, lambda s: self.app(scope, receive, s))
        else:
            await self._serve(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._gate.check(scope, self.lifecycle.in_flight)
        if refusal is not None:
            self.metrics.rejections.labels(refusal.reason).inc()
            await receive()  # websocket.connect; closing before accept refuses the handshake
            await send({"type": "websocket.close", "code": 1013 if refusal.status == 429 else 1008})
            return
        await self._in_flight(scope, receive, send)

    async def _in_flight(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The engine serves it, counted in flight (admission, drain, watchdog) meanwhile."""
        self.lifecycle.request_started()
        try:
            await self.app(scope, receive, send)
        finally:
            self.lifecycle.request_finished()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def on_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await asyncio.to_thread(self._provider.shutdown)  # export the last spans
            await send(message)

        await self.app(scope, receive, on_send)

    async def _untraced(
        self, scope: Scope, send: Send, call: Callable[[Send], Awaitable[None]]
    ) -> None:
        """Probes and scrapes: counted by code, logged only when asked (they are frequent)."""
        start, observer = self._clock(), ResponseObserver()

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                observer.on_start(message)
            await send(message)

        try:
            await call(observe)
        finally:
            self.metrics.observe_request(route_label(scope["path"]), observer.status or 500, None)
            if self.settings.log_probes:
                self._log(scope, observer, start, request_id=None, trace=("", ""))

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, observer = self._clock(), ResponseObserver()
        given = header(scope, b"x-request-id")
        if given is not None and _REQUEST_ID.fullmatch(given):
            request_id = given.decode()
        else:  # the engine must see the id we log (vLLM uses it as its request id)
            request_id = uuid.uuid4().hex
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"x-request-id"]
            scope = {**scope, "headers": [*headers, (b"x-request-id", request_id.encode())]}
        route = route_label(scope["path"])
        progress = scope["path"] in GENERATION_PATHS
        # Span names stay few: unknown paths are "other" (the path is an attribute).
        span_name = f"{scope['method']} {route}"
        # Not made the current span: nothing below us reads it, and attaching costs time.
        span = self._tracer.start_span(
            span_name, context=extract_context(scope["headers"]), kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"],
                        "http.request.id": request_id},
        )  # fmt: skip
        ctx = span.get_span_context()
        trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        traceparent = f"00-{trace_id}-{span_id}-{int(ctx.trace_flags):02x}".encode()
        extra = [(b"x-request-id", request_id.encode()), (b"traceparent", traceparent)]

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                observer.on_start(message)
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            elif message["type"] == "http.response.body" and message.get("body"):
                if observer.first_byte_at is None:
                    observer.first_byte_at = self._clock()
                observer.on_body(message["body"])
                if progress:
                    self.lifecycle.progress()
            await send(message)

        try:
            await self._dispatch(scope, receive, observe)
        finally:
            observer.finish()
            status = observer.status or 500  # the app failed before answering
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()
            self.metrics.observe_request(route, status, self._clock() - start)
            self._log(scope, observer, start, request_id, (trace_id, span_id))

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal: Refusal | None = self._gate.check(scope, self.lifecycle.in_flight)
        if refusal is not None:
            self.metrics.rejections.labels(refusal.reason).inc()
            await self._cors.send(scope, receive, send, partial(_send_refusal, refusal))
            return
        if (admin := self._admin.get(scope["path"])) is not None:
            await admin(scope, send)
        elif admin_scope(scope):  # an engine's own admin route: past the gate, not client work
            await self.app(scope, receive, send)
        else:
            await self._in_flight(scope, receive, send)

    def _log(
        self, scope: Scope, observer: ResponseObserver, start: float, request_id: str | None,
        trace: tuple[str, str],
    ) -> None:  # fmt: skip
        end = self._clock()
        client = scope.get("client")
        fields: dict[str, Any] = {
            "request_id": request_id, "trace_id": trace[0] or None, "span_id": trace[1] or None,
            "method": scope["method"], "path": scope["path"], "status": observer.status or 500,
            "duration_ms": round((end - start) * 1000, 3),
            "ttfb_ms": None if observer.first_byte_at is None
            else round((observer.first_byte_at - start) * 1000, 3),
            "prompt_tokens": observer.prompt_tokens, "completion_tokens": observer.completion_tokens,
            "model": observer.model, "client": f"{client[0]}:{client[1]}" if client else None,
        }  # fmt: skip
        forwarded = header(scope, b"x-forwarded-for")
        if forwarded:
            fields["forwarded_for"] = forwarded.decode("latin-1")
        if ACCESS_LOGGER.isEnabledFor(logging.INFO):
            # makeRecord + handle is logger.info without the caller lookup (a stack walk).
            record = ACCESS_LOGGER.makeRecord(
                ACCESS_LOGGER.name, logging.INFO, __file__, 0, "request", (), None, extra=fields
            )
            ACCESS_LOGGER.handle(record)
