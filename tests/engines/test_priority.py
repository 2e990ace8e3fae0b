"""`priority`: ignored by --scheduling-policy fcfs (vLLM's default), ordering the queue with
priority."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SIM_ARGS
from tests.metrics_util import sample
from vllm_deploy.harness import ServerProcess


@pytest.fixture(scope="module", params=["fcfs", "priority"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ServerProcess]]:
    log: Path = tmp_path_factory.mktemp("logs") / f"priority-{request.param}.log"
    args = [*SIM_ARGS, "--max-num-seqs", "1", "--scheduling-policy", request.param]
    with ServerProcess(args, log_path=log) as proc:
        yield request.param, proc


async def _waiting(client: httpx.AsyncClient, url: str, count: int) -> None:
    async with asyncio.timeout(10):
        while (await sample(client, url))["vllm:num_requests_waiting"] != count:
            await asyncio.sleep(0.02)


async def test_the_queue_is_served_in_the_policys_order(server: tuple[str, ServerProcess]) -> None:
    policy, proc = server
    finished: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:

        async def request(name: str, priority: int, header: bool = False) -> None:
            body: dict[str, object] = {"prompt": name, "max_tokens": 2}
            headers = {}
            if header:  # vLLM's X-Vllm-Priority header overrides the body
                headers["X-Vllm-Priority"] = str(priority)
            else:
                body["priority"] = priority
            resp = await client.post(f"{proc.url}/v1/completions", json=body, headers=headers)
            assert resp.status_code == 200, resp.text
            finished.append(name)

        await client.post(f"{proc.url}/admin/sim/faults", json={"hang": True})
        tasks = [asyncio.create_task(request("running", 0))]
        await _waiting(client, proc.url, 0)
        for count, (name, priority, header) in enumerate(
            [("late", 5, False), ("urgent", -1, True), ("middle", 3, False)], start=1
        ):
            tasks.append(asyncio.create_task(request(name, priority, header)))
            await _waiting(client, proc.url, count)
        await client.post(f"{proc.url}/admin/sim/faults", json={"hang": False})
        await asyncio.gather(*tasks)
    expected = {
        "fcfs": ["running", "late", "urgent", "middle"],
        "priority": ["running", "urgent", "middle", "late"],
    }
    assert finished == expected[policy]
