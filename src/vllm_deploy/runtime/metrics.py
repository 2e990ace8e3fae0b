"""The middleware's own metrics: ``vllm_deploy_`` prefix, counters and histograms, no colons.

Gauges declare how to combine processes, so they would stay correct under Prometheus'
multi-process mode (``PROMETHEUS_MULTIPROC_DIR``); vllm-deploy runs one API server process,
which is also the one that serves /metrics: the request metrics, counted in batches, are
brought up to date before each scrape (``MiddlewareMetrics.flush``).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vllm_deploy.contract import ADMIN_PATHS, GENERATION_PATHS, OPEN_PATHS, SIM_FAULTS_PATH
from vllm_deploy.runtime.deferred import Deferred

__all__ = ["MiddlewareMetrics", "route_label"]

# The `route` label's values: every other path is "other".
KNOWN_ROUTES = (
    OPEN_PATHS
    | ADMIN_PATHS
    | GENERATION_PATHS
    | {SIM_FAULTS_PATH, "/v1/embeddings", "/v1/models", "/tokenize", "/detokenize", "/version"}
)

DRAIN_BUCKETS = (0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)


def route_label(path: str) -> str:
    """The path for known routes, else ``other``: clients must not create series at will."""
    return path if path in KNOWN_ROUTES else "other"


class MiddlewareMetrics:
    """Usage: ``MiddlewareMetrics(registry).requests.labels(route, "200").inc()``.

    ``observe_request`` counts a finished request at most ``delay_s`` later, together with
    the others that finished meanwhile (``runtime.deferred``); ``flush()`` counts them now,
    as the middleware does before every scrape of /metrics. The in-flight gauge is set then
    too, from ``track_in_flight``'s source, rather than moved by every request.
    """

    def __init__(self, registry: CollectorRegistry, delay_s: float = 0.0) -> None:
        self.requests = Counter(
            "vllm_deploy_requests",
            "HTTP requests by route and status code.",
            ["route", "code"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "vllm_deploy_request_duration_seconds",
            "Time from request to last response byte.",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "vllm_deploy_requests_in_flight",
            "Requests being served (probes and /metrics excluded).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rejections = Counter(
            "vllm_deploy_rejections",
            "Requests refused by the middleware, by reason.",
            ["reason"],
            registry=registry,
        )
        self.draining = Gauge(
            "vllm_deploy_draining",
            "1 while the pod drains (readiness is 503), else 0.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.drain_started = Gauge(
            "vllm_deploy_drain_started_timestamp_seconds",
            "Unix time the current drain started (0 when not draining).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.drain_deadline = Gauge(
            "vllm_deploy_drain_deadline_seconds",
            "The current drain's deadline, in seconds after its start (0 when not draining).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.drain_duration = Histogram(
            "vllm_deploy_drain_duration_seconds",
            "How long drains took, by how they ended.",
            ["result"],
            buckets=DRAIN_BUCKETS,
            registry=registry,
        )
        self.engine_stalled = Gauge(
            "vllm_deploy_engine_stalled",
            "1 while requests are in flight but no token was produced for the stall period.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.watchdog_trips = Counter(
            "vllm_deploy_watchdog_trips",
            "Times the stall watchdog found the engine stalled.",
            registry=registry,
        )
        for reason in ("max_inflight", "unauthorized", "forbidden"):
            self.rejections.labels(reason)
        for result in ("drained", "deadline"):
            self.drain_duration.labels(result)
        self.draining.set(0)
        self.engine_stalled.set(0)
        self._by_request: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._finished: Deferred[tuple[str, int, float | None]] = Deferred(self._count, delay_s)
        self._in_flight_now: Callable[[], int] | None = None

    def track_in_flight(self, source: Callable[[], int]) -> None:
        """The in-flight gauge reads ``source()`` whenever requests are counted."""
        self._in_flight_now = source

    def observe_request(self, route: str, code: int, seconds: float | None) -> None:
        """Counts a request; ``seconds`` (None for probes) goes to the duration histogram."""
        self._finished.add((route, code, seconds))

    def flush(self) -> None:
        """Counts the finished requests still waiting, and sets the in-flight gauge."""
        self._finished.flush()
        if self._in_flight_now is not None:
            self.in_flight.set(self._in_flight_now())

    def _count(self, finished: list[tuple[str, int, float | None]]) -> None:
        if self._in_flight_now is not None:
            self.in_flight.set(self._in_flight_now())
        for (route, code), n in Tally((route, code) for route, code, _ in finished).items():
            self._children(route, code)[0].inc(n)
        for route, code, seconds in finished:
            if seconds is not None:
                self._children(route, code)[1].observe(seconds)

    def _children(self, route: str, code: int) -> tuple[Counter, Histogram]:
        children = self._by_request.get((route, code))
        if children is None:  # labels() costs a lock and a tuple per call: look it up once
            children = (self.requests.labels(route, str(code)), self.request_duration.labels(route))
            self._by_request[(route, code)] = children
        return children
