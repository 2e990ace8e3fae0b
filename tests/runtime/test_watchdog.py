"""A hung engine trips the stall watchdog; liveness recovers when tokens flow again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.metrics_util import scrape
from vllm_deploy.harness import ServerProcess

STALL_S = 1.0


async def _live_status_after(
    client: httpx.AsyncClient, url: str, want: int, within: float
) -> float:
    t0 = time.monotonic()
    async with asyncio.timeout(within):
        while (await client.get(f"{url}/health/live")).status_code != want:
            await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def test_hang_trips_the_watchdog_and_recovery_clears_it(tmp_path: Path) -> None:
    env = {"VLLMDEPLOY_WATCHDOG_STALL_S": str(STALL_S)}
    args = ["--engine", "simulated", "--model", "m", "--sim-ttft-ms", "10", "--sim-itl-ms", "10"]
    with ServerProcess(args, log_path=tmp_path / "server.log", env=env) as server:
        async with httpx.AsyncClient(timeout=30) as client:
            url = server.url
            # Idle is not stalled, however long it lasts.
            await asyncio.sleep(STALL_S * 1.5)
            assert (await client.get(f"{url}/health/live")).status_code == 200
            await client.post(f"{url}/admin/sim/faults", json={"hang": True})
            request = asyncio.create_task(
                client.post(f"{url}/v1/completions", json={"prompt": "x", "max_tokens": 20})
            )
            took = await _live_status_after(client, url, 503, within=STALL_S + 2)
            assert took <= STALL_S + 1
            body = (await client.get(f"{url}/health/live")).json()
            assert body == {"status": "stalled", "in_flight": 1, "stall_seconds": STALL_S}
            metrics = scrape((await client.get(f"{url}/metrics")).text)
            assert metrics["vllm_deploy_engine_stalled"] == 1
            assert metrics["vllm_deploy_watchdog_trips_total"] == 1

            await client.post(f"{url}/admin/sim/faults", json={"hang": False})
            assert (await request).json()["usage"]["completion_tokens"] == 20
            await _live_status_after(client, url, 200, within=2)
            metrics = scrape((await client.get(f"{url}/metrics")).text)
            assert metrics["vllm_deploy_engine_stalled"] == 0


async def test_a_slow_but_steady_stream_is_not_a_stall(tmp_path: Path) -> None:
    env = {"VLLMDEPLOY_WATCHDOG_STALL_S": "0.5"}
    args = ["--engine", "simulated", "--model", "m", "--sim-ttft-ms", "10", "--sim-itl-ms", "100"]
    with ServerProcess(args, log_path=tmp_path / "server.log", env=env) as server:
        async with httpx.AsyncClient(timeout=30) as client:
            request = asyncio.create_task(
                client.post(f"{server.url}/v1/completions", json={"prompt": "x", "max_tokens": 15})
            )
            statuses = []
            while not request.done():  # non-streamed: only the token counter shows progress
                statuses.append((await client.get(f"{server.url}/health/live")).status_code)
                await asyncio.sleep(0.1)
            assert (await request).status_code == 200
            assert set(statuses) == {200} and len(statuses) > 5


async def test_other_traffic_does_not_hide_a_hung_engine(tmp_path: Path) -> None:
    env = {"VLLMDEPLOY_WATCHDOG_STALL_S": str(STALL_S), "VLLMDEPLOY_DRAIN_QUIET_S": "0"}
    args = ["--engine", "simulated", "--model", "m", "--sim-ttft-ms", "10", "--sim-itl-ms", "10"]
    with ServerProcess(args, log_path=tmp_path / "server.log", env=env) as server:
        async with httpx.AsyncClient(timeout=30) as client:
            url = server.url
            await client.post(f"{url}/admin/sim/faults", json={"hang": True})
            stuck = asyncio.create_task(client.post(f"{url}/v1/completions", json={"prompt": "x"}))

            async def poll_models() -> None:  # a router's model discovery, say
                while True:
                    await client.get(f"{url}/v1/models")
                    await asyncio.sleep(0.2)

            poller = asyncio.create_task(poll_models())
            await _live_status_after(client, url, 503, within=STALL_S + 2)
            # A drain does not wait for requests a stalled engine will never finish.
            result = (await client.post(f"{url}/admin/drain", params={"timeout": 30})).json()
            assert result["reason"] == "stalled" and result["duration_seconds"] < 5
            poller.cancel()
            await client.post(f"{url}/admin/sim/faults", json={"hang": False})
            assert (await stuck).status_code == 200


async def test_new_streams_to_a_hung_engine_do_not_hide_the_stall(tmp_path: Path) -> None:
    # A streamed chat answer opens with a role-only chunk before any token: a load balancer
    # that keeps sending requests to the hung pod must not keep its watchdog quiet.
    env = {"VLLMDEPLOY_WATCHDOG_STALL_S": str(STALL_S)}
    args = ["--engine", "simulated", "--model", "m", "--sim-ttft-ms", "10", "--sim-itl-ms", "10"]
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with ServerProcess(args, log_path=tmp_path / "server.log", env=env) as server:
        async with httpx.AsyncClient(timeout=30) as client:
            url = server.url
            await client.post(f"{url}/admin/sim/faults", json={"hang": True})

            async def stream() -> None:
                async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                    async for _ in r.aiter_bytes():
                        pass

            async def arrivals() -> None:
                while True:
                    streams.append(asyncio.create_task(stream()))
                    await asyncio.sleep(0.1)

            streams: list[asyncio.Task[None]] = []
            sender = asyncio.create_task(arrivals())
            took = await _live_status_after(client, url, 503, within=STALL_S + 2)
            assert took <= STALL_S + 1
            sender.cancel()
            await client.post(f"{url}/admin/sim/faults", json={"hang": False})
            await asyncio.gather(*streams)
