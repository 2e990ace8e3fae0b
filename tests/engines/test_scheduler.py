from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from vllm_deploy.engines.metrics import EngineMetrics
from vllm_deploy.engines.scheduler import Scheduler


def _scheduler(slots: int, kv: int = 100) -> tuple[Scheduler, EngineMetrics]:
    metrics = EngineMetrics(CollectorRegistry(), "m", 128)
    return Scheduler(slots, kv, metrics), metrics


async def test_requests_beyond_the_batch_wait_in_fifo_order() -> None:
    scheduler, metrics = _scheduler(2)
    order: list[int] = []
    release = asyncio.Event()

    async def request(i: int) -> None:
        async with scheduler.admit(10):
            order.append(i)
            await release.wait()

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(request(i)))
        await asyncio.sleep(0)  # arrive in order
    await asyncio.sleep(0.01)
    assert (scheduler.running, scheduler.waiting) == (2, 3)
    assert metrics.num_requests_running._value.get() == 2
    assert metrics.num_requests_waiting._value.get() == 3
    assert metrics.kv_cache_usage_perc._value.get() == 0.2
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert (scheduler.running, scheduler.waiting) == (0, 0)
    assert metrics.kv_cache_usage_perc._value.get() == 0


async def test_cancelled_requests_release_slot_and_queue_place() -> None:
    scheduler, _ = _scheduler(1)
    hold = asyncio.Event()

    async def request() -> None:
        async with scheduler.admit(1) as slot:
            slot.add_token()
            await hold.wait()

    running = asyncio.create_task(request())
    queued = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    assert (scheduler.running, scheduler.waiting) == (1, 1)
    queued.cancel()
    await asyncio.sleep(0)
    assert scheduler.waiting == 0
    running.cancel()
    await asyncio.sleep(0)
    assert scheduler.running == 0 and scheduler._kv_tokens == 0


def test_load_goes_from_empty_to_full_batch() -> None:
    scheduler, _ = _scheduler(5)
    assert scheduler.load == 0.0
    scheduler.running = 5
    assert scheduler.load == 1.0
    scheduler.running = 3
    assert scheduler.load == 0.5
