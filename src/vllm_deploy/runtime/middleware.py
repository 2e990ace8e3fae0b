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
from collections.abc import Awaitable, Callable
from functools import partial
from random import getrandbits

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vllm_deploy.contract import GENERATION_PATHS, OPEN_PATHS
from vllm_deploy.runtime.access_log import ACCESS_LOGGER, AccessLog, ResponseObserver
from vllm_deploy.runtime.asgi import header, send_error
from vllm_deploy.runtime.auth import ApiKeys
from vllm_deploy.runtime.cors import CorsRefusals
from vllm_deploy.runtime.gate import Gate, Refusal, admin_scope
from vllm_deploy.runtime.lifecycle import Lifecycle
from vllm_deploy.runtime.metrics import MiddlewareMetrics, route_label
from vllm_deploy.runtime.probes import Probes
from vllm_deploy.runtime.settings import MiddlewareSettings, load_settings
from vllm_deploy.runtime.tracing import (
    extract_context,
    make_tracer_provider,
    records,
    unrecorded_ids,
)

__all__ = ["ProductionMiddleware"]

_REQUEST_ID = re.compile(rb"[\w.:@/+=-]{1,128}")
# The request headers the hot path reads, found in one pass (the first of each, as `header`).
_WANTED = frozenset({b"x-request-id", b"authorization", b"traceparent", b"x-forwarded-for"})
_GENERATION_TOKENS = "vllm:generation_tokens_total"
# vLLM's sleep mode: {sleep_state="awake"} is 0 while the engine sleeps
# (vllm/v1/metrics/loggers.py).
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


def _wanted_headers(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for key, value in headers:
        if key in _WANTED or (key := key.lower()) in _WANTED:
            found.setdefault(key, value)
    return found


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
        self.metrics = MiddlewareMetrics(registry, self.settings.flush_interval_s)
        self.keys = ApiKeys.from_settings(self.settings)
        self._gate = Gate(self.settings, self.keys)
        # The access log follows VLLMDEPLOY_LOG_LEVEL inside vLLM too (WARNING turns it off).
        ACCESS_LOGGER.setLevel(self.settings.log_level)
        self._access_log = AccessLog(ACCESS_LOGGER, self.settings.flush_interval_s)
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
        self._records = records(self._provider)
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
                self.flush()  # the scrape counts every request finished so far
                self.lifecycle.stalled()  # refresh the watchdog gauge for this scrape
            # CORS preflights carry no credentials by design; they reach no engine work.
            await self._untraced(scope, send, lambda s: self.app(scope, receive, s))
        else:
            await self._serve(scope, receive, send)

    def flush(self) -> None:
        """Counts and logs the finished requests whose metrics and access lines still wait
        (``VLLMDEPLOY_FLUSH_INTERVAL_S``); done before each /metrics scrape and at shutdown."""
        self.metrics.flush()
        self._access_log.flush()

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
                self.flush()
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
            if self.settings.log_probes and ACCESS_LOGGER.isEnabledFor(logging.INFO):
                self._log(scope, observer, start, None, ("", ""), header(scope, b"x-forwarded-for"))

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Everything but probes and scrapes: the gate, then an admin route or the engine.

        The hot path: one pass over the request headers, ids without the tracing SDK unless
        spans are exported, the response read for tokens without parsing it whole.
        """
        clock, lifecycle = self._clock, self.lifecycle
        start = clock()
        wanted = _wanted_headers(scope["headers"])
        given = wanted.get(b"x-request-id")
        if given is not None and _REQUEST_ID.fullmatch(given):
            request_id = given.decode()
        else:  # the engine must see the id we log (vLLM uses it as its request id)
            request_id = f"{getrandbits(128):032x}"
            headers = scope["headers"]
            if given is not None:
                headers = [(k, v) for k, v in headers if k.lower() != b"x-request-id"]
            scope = {**scope, "headers": [*headers, (b"x-request-id", request_id.encode())]}
        path: str = scope["path"]
        route = route_label(path)
        span: Span | None = None
        if self._records:
            # Span names stay few: unknown paths are "other" (the path is an attribute).
            # Not made the current span: nothing below us reads it, and attaching costs time.
            span = self._tracer.start_span(
                f"{scope['method']} {route}",
                context=extract_context(scope["headers"]),
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": scope["method"],
                    "url.path": path,
                    "http.request.id": request_id,
                },
            )
            ctx = span.get_span_context()
            trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
            flags = int(ctx.trace_flags)
        else:
            trace_id, span_id = unrecorded_ids(wanted.get(b"traceparent"))
            flags = 0
        traceparent = f"00-{trace_id}-{span_id}-{flags:02x}".encode()
        extra = ((b"x-request-id", request_id.encode()), (b"traceparent", traceparent))
        logged = ACCESS_LOGGER.isEnabledFor(logging.INFO)
        observer = ResponseObserver(read_tokens=logged)  # tokens and model: for the log only
        progress = path in GENERATION_PATHS

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body")
                if body:
                    if observer.first_byte_at is None:
                        observer.first_byte_at = clock()
                    observer.on_body(body)
                    if progress:
                        lifecycle.progress()
            elif message["type"] == "http.response.start":
                observer.on_start(message)
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        try:
            admin_path = admin_scope(scope)
            refusal = self._gate.check_request(
                scope, lifecycle.in_flight, wanted.get(b"authorization"), admin_path
            )
            if refusal is not None:
                self.metrics.rejections.labels(refusal.reason).inc()
                await self._cors.send(scope, receive, observe, partial(_send_refusal, refusal))
            elif (admin := self._admin.get(path)) is not None:
                await admin(scope, observe)
            elif admin_path:  # an engine's admin route: past the gate, not client work
                await self.app(scope, receive, observe)
            else:  # the engine serves it, counted in flight (admission, drain, watchdog)
                lifecycle.request_started()
                try:
                    await self.app(scope, receive, observe)
                finally:
                    lifecycle.request_finished()
        finally:
            status = observer.status or 500  # the app failed before answering
            if span is not None:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
            self.metrics.observe_request(route, status, clock() - start)
            if logged:
                forwarded = wanted.get(b"x-forwarded-for")
                self._log(scope, observer, start, request_id, (trace_id, span_id), forwarded)

    def _log(
        self,
        scope: Scope,
        observer: ResponseObserver,
        start: float,
        request_id: str | None,
        trace: tuple[str, str],
        forwarded: bytes | None = None,
    ) -> None:
        self._access_log.write(
            scope,
            observer,
            start,
            self._clock(),
            request_id,
            trace[0] or None,
            trace[1] or None,
            forwarded.decode("latin-1") if forwarded else None,
        )
