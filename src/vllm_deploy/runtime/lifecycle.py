"""A pod's life: requests in flight, drain-until-quiet, and the stall watchdog."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from vllm_deploy.runtime.metrics import MiddlewareMetrics

__all__ = ["DrainResult", "Lifecycle"]

# How often a drain re-checks its conditions; bounds how late it notices quiet.
_DRAIN_POLL_S = 0.05


@dataclass(frozen=True)
class DrainResult:
    """How a drain ended; ``drained`` only when it went quiet (reason ``quiet``)."""

    drained: bool
    reason: Literal["quiet", "deadline", "stalled", "cancelled"]
    in_flight: int
    duration_seconds: float


class Lifecycle:
    """Tracks in-flight work and token progress; drains; says whether the engine is stalled.

    Usage: ``lc.request_started()`` ... ``lc.progress()`` per body chunk ...
    ``lc.request_finished()``; ``await lc.drain(timeout_s=120, quiet_s=5)``; ``lc.stalled()``
    for liveness.
    """

    def __init__(
        self,
        metrics: MiddlewareMetrics,
        stall_after_s: float,
        tokens_produced: Callable[[], float | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._stall_after = stall_after_s
        self._tokens_produced = tokens_produced
        self._clock = clock
        self.in_flight = 0
        self.draining = False
        self._last_arrival = clock()
        self._last_progress = clock()
        self._last_tokens = tokens_produced() if tokens_produced else None
        # Once the engine's token counter is seen, it alone says whether tokens flow: output
        # chunks do not, since a streamed answer opens with a role-only chunk before any token
        # and new arrivals at a hung engine would keep its watchdog quiet.
        self._counts_tokens = self._last_tokens is not None
        self._was_stalled = False
        metrics.track_in_flight(lambda: self.in_flight)

    def request_started(self) -> None:
        now = self._clock()
        if self.in_flight == 0:
            self._last_progress = now  # an idle engine has not stalled: start counting now
        self.in_flight += 1
        self._last_arrival = now

    def request_finished(self) -> None:
        # Not progress: a request that ends (a client giving up, a 4xx) says nothing of
        # whether the engine still produces tokens for the others.
        self.in_flight -= 1

    def progress(self) -> None:
        """A chunk of generated output went out: the engine is producing (the signal only
        where the engine has no token counter)."""
        if not self._counts_tokens:
            self._last_progress = self._clock()

    def stalled(self) -> bool:
        """Requests in flight, yet no generated token or output chunk for the stall period."""
        now = self._clock()
        if self._tokens_produced is not None:
            tokens = self._tokens_produced()
            if tokens is not None:
                self._counts_tokens = True
                if tokens != self._last_tokens:
                    self._last_tokens, self._last_progress = tokens, now
        stalled = self.in_flight > 0 and now - self._last_progress >= self._stall_after
        if stalled and not self._was_stalled:
            self._metrics.watchdog_trips.inc()
        self._was_stalled = stalled
        self._metrics.engine_stalled.set(int(stalled))
        return stalled

    def undrain(self) -> None:
        """Ready again (a drain started by mistake); a drain in progress ends at its next check."""
        self.draining = False
        self._metrics.draining.set(0)
        self._metrics.drain_started.set(0)
        self._metrics.drain_deadline.set(0)

    async def drain(self, timeout_s: float, quiet_s: float) -> DrainResult:
        """Readiness goes 503 at once; arrivals are still served while endpoints propagate.

        Ends when nothing is in flight and nothing arrived for ``quiet_s`` (drained), at
        ``timeout_s`` (not drained), or at once when the engine is stalled (a liveness restart
        must not wait for requests that will never finish). The pod stays unready afterwards.
        """
        start = self._clock()
        self.draining = True
        self._metrics.draining.set(1)
        # Wall-clock start and deadline let an alert see a drain about to cut streams.
        self._metrics.drain_started.set(time.time())
        self._metrics.drain_deadline.set(timeout_s)
        while True:
            now = self._clock()
            if not self.draining:  # undrained meanwhile
                result = DrainResult(False, "cancelled", self.in_flight, now - start)
                break
            if self.stalled():  # nothing in flight will finish: let the restart proceed
                result = DrainResult(False, "stalled", self.in_flight, now - start)
                break
            quiet_since = max(self._last_arrival, start)
            if self.in_flight == 0 and now - quiet_since >= quiet_s:
                result = DrainResult(True, "quiet", 0, now - start)
                break
            if now - start >= timeout_s:
                result = DrainResult(False, "deadline", self.in_flight, now - start)
                break
            await asyncio.sleep(_DRAIN_POLL_S)
        if result.reason in ("quiet", "deadline"):
            label = "drained" if result.drained else "deadline"
            self._metrics.drain_duration.labels(label).observe(result.duration_seconds)
        return result
