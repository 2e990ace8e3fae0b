"""Many streams at once: none truncated, gauges add up, disconnects free their slots."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest

from tests.conftest import SIM_ARGS
from tests.metrics_util import sample
from vllm_deploy.harness import ServerProcess

MAX_NUM_SEQS = 16


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "concurrency.log"
    args = [*SIM_ARGS, "--served-model-name", "m", "--max-num-seqs", str(MAX_NUM_SEQS)]
    with ServerProcess(args, log_path=log) as proc:
        yield proc


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:
        yield c


async def _set_hang(client: httpx.AsyncClient, url: str, hang: bool) -> None:
    resp = await client.post(f"{url}/admin/sim/faults", json={"hang": hang})
    assert resp.status_code == 200 and resp.json()["hang"] is hang


async def _until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.02)


async def test_64_streams_complete_and_gauges_add_up(
    server: ServerProcess, client: httpx.AsyncClient
) -> None:
    n, max_tokens = 64, 40
    await _set_hang(client, server.url, True)
    opened = asyncio.Event()
    open_count = 0

    async def one_stream(i: int) -> tuple[int, bool, int]:
        nonlocal open_count
        body = {
            "model": "m",
            "prompt": f"stream {i}",
            "max_tokens": max_tokens,
            "seed": i,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        tokens, done, usage = 0, False, -1
        async with client.stream("POST", f"{server.url}/v1/completions", json=body) as resp:
            assert resp.status_code == 200
            open_count += 1
            if open_count == n:
                opened.set()
            async for line in resp.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line.removeprefix("data: ")
                if data == "[DONE]":
                    done = True
                    continue
                event = json.loads(data)
                if event["choices"] and event["choices"][0]["text"]:
                    tokens += len(event["choices"][0]["text"].split())
                if event.get("usage"):
                    usage = event["usage"]["completion_tokens"]
        return tokens, done, usage

    tasks = [asyncio.create_task(one_stream(i)) for i in range(n)]
    await asyncio.wait_for(opened.wait(), 20)

    async def all_accounted() -> bool:
        m = await sample(client, server.url)
        return m["vllm:num_requests_running"] + m["vllm:num_requests_waiting"] == n

    await _until(all_accounted)
    m = await sample(client, server.url)
    assert m["vllm:num_requests_running"] == MAX_NUM_SEQS
    assert m["vllm:num_requests_waiting"] == n - MAX_NUM_SEQS

    await _set_hang(client, server.url, False)
    while not all(t.done() for t in tasks):
        m = await sample(client, server.url)
        assert m["vllm:num_requests_running"] <= MAX_NUM_SEQS
        assert m["vllm:num_requests_running"] + m["vllm:num_requests_waiting"] <= n
        await asyncio.sleep(0.02)
    for tokens, done, usage in [t.result() for t in tasks]:
        assert done and tokens == max_tokens and usage == max_tokens
    m = await sample(client, server.url)
    assert m["vllm:num_requests_running"] == 0 and m["vllm:num_requests_waiting"] == 0
    assert m["vllm:kv_cache_usage_perc"] == 0


async def test_disconnect_frees_running_and_queued_slots(
    server: ServerProcess, client: httpx.AsyncClient
) -> None:
    await _set_hang(client, server.url, True)
    n = MAX_NUM_SEQS + 4
    body = {"model": "m", "prompt": "x", "max_tokens": 50, "stream": True}
    streams = [client.stream("POST", f"{server.url}/v1/completions", json=body) for _ in range(n)]
    responses = [await s.__aenter__() for s in streams]
    non_streamed = asyncio.create_task(
        client.post(f"{server.url}/v1/completions", json={**body, "stream": False})
    )

    async def counts_are(running: float, waiting: float) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            m = await sample(client, server.url)
            return (m["vllm:num_requests_running"], m["vllm:num_requests_waiting"]) == (
                running,
                waiting,
            )

        return check

    await _until(await counts_are(MAX_NUM_SEQS, n + 1 - MAX_NUM_SEQS))
    # Clients go away: 2 queued, 3 running, and the non-streamed one (queued). The other
    # 2 queued move up; 15 requests are left, all running.
    for s in streams[-2:] + streams[:3]:
        await s.__aexit__(None, None, None)
    non_streamed.cancel()
    await _until(await counts_are(n + 1 - 6, 0), within=5)
    await _set_hang(client, server.url, False)
    for s in streams[3:-2]:
        await s.__aexit__(None, None, None)
    await _until(await counts_are(0, 0))
    assert responses[0].status_code == 200
    m = await sample(client, server.url)
    assert m["vllm:request_success_total{finished_reason=abort}"] >= 6


async def test_a_client_that_leaves_is_a_499_not_a_server_error(
    server: ServerProcess, client: httpx.AsyncClient
) -> None:
    await _set_hang(client, server.url, True)
    leaving = asyncio.create_task(client.post(f"{server.url}/v1/completions", json={"prompt": "x"}))
    await asyncio.sleep(0.3)
    leaving.cancel()
    await _set_hang(client, server.url, False)

    def complete_lines() -> list[dict[str, object]]:
        # The server may be writing a line as we read: only lines it has ended are whole.
        return [json.loads(line) for line in server.log().split("\n")[:-1]]

    records = complete_lines()
    async with asyncio.timeout(5):
        while not any(r.get("status") == 499 for r in records):
            await asyncio.sleep(0.05)
            records = complete_lines()
    assert not [r for r in records if r["level"] == "ERROR"]
    assert not [r for r in records if r.get("status", 0) >= 500]
