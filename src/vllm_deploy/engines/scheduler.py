"""Admission into the running batch: at most ``max_num_seqs`` running, the rest wait FIFO.

This is what ``vllm:num_requests_running`` and ``vllm:num_requests_waiting`` count, and
``vllm:kv_cache_usage_perc`` is the share of ``kv_cache_tokens`` held by running requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from vllm_deploy.engines.metrics import EngineMetrics

__all__ = ["Scheduler", "Slot"]


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
    """Usage: ``async with scheduler.admit(len(prompt_ids)) as slot: ...``."""

    def __init__(self, max_num_seqs: int, kv_cache_tokens: int, metrics: EngineMetrics) -> None:
        if max_num_seqs < 1:
            raise ValueError(f"max_num_seqs has value {max_num_seqs}; expected an integer >= 1")
        self.max_num_seqs = max_num_seqs
        self._capacity = max(1, kv_cache_tokens)
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max_num_seqs)
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

    @asynccontextmanager
    async def admit(self, prompt_tokens: int) -> AsyncIterator[Slot]:
        self.waiting += 1
        self._publish()
        try:
            await self._slots.acquire()
        except BaseException:  # cancelled while queued: the client went away
            self.waiting -= 1
            self._publish()
            raise
        self.waiting -= 1
        slot = Slot(self, prompt_tokens)
        self.running += 1
        self._kv_tokens += prompt_tokens
        self._publish()
        try:
            yield slot
        finally:
            # Free the slot first so a cancelled (disconnected) request never holds it.
            self.running -= 1
            self._kv_tokens -= slot.tokens
            self._slots.release()
            self._publish()
