"""Admission into the running batch: at most ``max_num_seqs`` running, the rest wait.

The waiting queue is FIFO (vLLM's default ``--scheduling-policy fcfs``, which ignores a
request's ``priority``) or ordered by ``(priority, arrival)`` with ``priority`` (lower values
first; vllm/v1/core/sched/request_queue.py). Unlike vLLM, a waiting high-priority request does
not preempt running ones: it takes the next free slot.

This is what ``vllm:num_requests_running`` and ``vllm:num_requests_waiting`` count, and
``vllm:kv_cache_usage_perc`` is the share of ``kv_cache_tokens`` held by running requests.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from vllm_deploy.engines.metrics import EngineMetrics

__all__ = ["Scheduler", "SchedulingPolicy", "Slot"]

SchedulingPolicy = Literal["fcfs", "priority"]


class Slot:
    """A running request's place in the batch; counts the KV cache tokens it holds."""

    def __init__(self, scheduler: Scheduler, prompt_tokens: int) -> None:
        self._scheduler = scheduler
        self.tokens = prompt_tokens

    def add_token(self) -> None:
        self.tokens += 1
        self._scheduler._kv_tokens += 1
        self._scheduler._publish_kv()  # per token: only the gauge that changed


class Scheduler:
    """Usage: ``async with scheduler.admit(len(prompt_ids), priority) as slot: ...``."""

    def __init__(
        self,
        max_num_seqs: int,
        kv_cache_tokens: int,
        metrics: EngineMetrics,
        policy: SchedulingPolicy = "fcfs",
    ) -> None:
        if max_num_seqs < 1:
            raise ValueError(f"max_num_seqs has value {max_num_seqs}; expected an integer >= 1")
        self.max_num_seqs = max_num_seqs
        self.policy = policy
        self._capacity = max(1, kv_cache_tokens)
        self._metrics = metrics
        self._queue: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self.running = 0
        self.waiting = 0
        self._kv_tokens = 0
        self._publish()

    @property
    def load(self) -> float:
        """How full the batch is, 0.0 (one running request) to 1.0 (max_num_seqs running)."""
        if self.max_num_seqs == 1:
            return 0.0
        return max(0, self.running - 1) / (self.max_num_seqs - 1)

    def _publish_kv(self) -> None:
        self._metrics.kv_cache_usage_perc.set(min(1.0, self._kv_tokens / self._capacity))

    def _publish(self) -> None:
        self._metrics.num_requests_running.set(self.running)
        self._metrics.num_requests_waiting.set(self.waiting)
        self._publish_kv()

    def _hand_over(self) -> None:
        """Gives free slots to the first waiters still waiting."""
        while self._queue and self.running < self.max_num_seqs:
            _, _, granted = heapq.heappop(self._queue)
            self.running += 1  # reserved for that waiter
            granted.set_result(None)

    async def _acquire(self, priority: int) -> None:
        if self.running < self.max_num_seqs and not self._queue:
            self.running += 1
            return
        key = priority if self.policy == "priority" else 0
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (key, next(self._arrivals), granted)
        heapq.heappush(self._queue, entry)
        try:
            await granted
        except BaseException:  # cancelled while queued: the client went away
            if granted.done() and not granted.cancelled():
                self.running -= 1  # the slot was handed over just before: pass it on
                self._hand_over()
            else:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
            raise

    @asynccontextmanager
    async def admit(self, prompt_tokens: int, priority: int = 0) -> AsyncIterator[Slot]:
        self.waiting += 1
        self._publish()
        try:
            await self._acquire(priority)
        except BaseException:
            self.waiting -= 1
            self._publish()
            raise
        self.waiting -= 1
        slot = Slot(self, prompt_tokens)
        self._kv_tokens += prompt_tokens
        self._publish()
        try:
            yield slot
        finally:
            # Free the slot first so a cancelled (disconnected) request never holds it.
            self.running -= 1
            self._kv_tokens -= slot.tokens
            self._hand_over()
            self._publish()
