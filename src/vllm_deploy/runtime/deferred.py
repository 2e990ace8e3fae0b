"""Per-request bookkeeping done later, for many requests in one pass.

The access line and the request metrics of a finished request need not be written the
moment it ends: nobody reads them sooner than the next scrape or log collection. Done
together every few tens of milliseconds, the work runs with its code and data in the CPU's
caches, where one request at a time it runs right after the rest of the request has pushed
them out: batched, the middleware adds about half the server CPU it adds with nothing
batched (docs/performance.md). nginx buffers its access log the same way (``access_log
... buffer= flush=``).

Items wait at most ``delay_s`` (a timer on the running event loop), or until ``max_items``
wait; with no running loop, or ``delay_s`` 0, each is done at once. ``flush()`` does the
waiting ones now (before a scrape, at shutdown); at interpreter exit every ``Deferred`` is
flushed. A process killed outright (SIGKILL, OOM) loses what waits: at most ``delay_s``.
"""

from __future__ import annotations

import asyncio
import atexit
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Deferred"]

T = TypeVar("T")

_LIVE: weakref.WeakSet[Deferred[Any]] = weakref.WeakSet()


class Deferred(Generic[T]):
    """Usage: ``d = Deferred(write_all, delay_s=0.05)``; ``d.add(item)`` per request;
    ``write_all(items)`` gets them in order, at most ``delay_s`` later."""

    def __init__(
        self, apply: Callable[[list[T]], None], delay_s: float, max_items: int = 1024
    ) -> None:
        self._apply = apply
        self._delay_s = delay_s
        self._max_items = max_items
        self._pending: list[T] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        _LIVE.add(self)

    def add(self, item: T) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        pending = self._pending
        if pending and loop is not self._loop:  # left by a loop that ended before its timer
            self.flush()
        pending = self._pending
        pending.append(item)
        if loop is None or self._delay_s <= 0 or len(pending) >= self._max_items:
            self.flush()
        elif self._timer is None:
            self._loop = loop
            self._timer = loop.call_later(self._delay_s, self.flush)

    def flush(self) -> None:
        """Does every waiting item now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            pending, self._pending = self._pending, []
            self._apply(pending)

    def __len__(self) -> int:
        return len(self._pending)


@atexit.register
def _flush_all() -> None:
    for deferred in list(_LIVE):
        deferred.flush()
