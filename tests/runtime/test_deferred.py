"""Deferred: items done together, in order, never later than asked, never lost at exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from vllm_deploy.runtime.deferred import Deferred


def _recorder() -> tuple[list[list[int]], Deferred[int], Deferred[int]]:
    batches: list[list[int]] = []
    return batches, Deferred(batches.append, 0.05), Deferred(batches.append, 0.0)


def test_without_a_running_loop_each_item_is_done_at_once() -> None:
    batches, delayed, immediate = _recorder()
    delayed.add(1)
    immediate.add(2)
    assert batches == [[1], [2]]


def test_items_wait_for_the_timer_and_come_in_order() -> None:
    batches: list[list[int]] = []

    async def main() -> None:
        deferred = Deferred(batches.append, 0.05)
        for item in range(5):
            deferred.add(item)
        assert batches == [] and len(deferred) == 5
        for _ in range(100):  # the timer fires 0.05 s after the first item
            await asyncio.sleep(0.05)
            if batches:
                break
        assert batches == [[0, 1, 2, 3, 4]] and len(deferred) == 0
        deferred.add(5)  # a new batch starts a new timer
        deferred.flush()
        assert batches == [[0, 1, 2, 3, 4], [5]]

    asyncio.run(main())


def test_zero_delay_does_each_item_at_once_inside_a_loop() -> None:
    batches: list[list[int]] = []

    async def main() -> None:
        deferred = Deferred(batches.append, 0.0)
        deferred.add(1)
        deferred.add(2)

    asyncio.run(main())
    assert batches == [[1], [2]]


def test_a_full_batch_is_done_without_waiting() -> None:
    batches: list[list[int]] = []

    async def main() -> None:
        deferred = Deferred(batches.append, 60.0, max_items=3)
        for item in range(7):
            deferred.add(item)
        assert batches == [[0, 1, 2], [3, 4, 5]] and len(deferred) == 1
        deferred.flush()

    asyncio.run(main())
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_items_left_by_an_ended_loop_go_first_in_the_next() -> None:
    batches: list[list[int]] = []
    deferred = Deferred(batches.append, 60.0)

    async def add(item: int) -> None:
        deferred.add(item)

    asyncio.run(add(1))  # the loop ends before its timer fires
    assert batches == []
    asyncio.run(add(2))
    assert batches == [[1]] and len(deferred) == 1
    deferred.add(3)  # no loop now: what waited first, then this one at once
    assert batches == [[1], [2], [3]]


def test_what_waits_is_done_at_interpreter_exit() -> None:
    script = """
import asyncio
from vllm_deploy.runtime.deferred import Deferred

deferred = Deferred(lambda items: print("done", items, flush=True), 60.0)

async def main():
    deferred.add("a")
    deferred.add("b")

asyncio.run(main())
print("exiting", flush=True)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.splitlines() == ["exiting", "done ['a', 'b']"]
