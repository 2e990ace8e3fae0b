"""Drain with real processes: streams finish, arrivals are served, readiness flips at once."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from vllm_deploy.harness import ServerProcess
from vllm_deploy.runtime.drain_client import DrainFailed
from vllm_deploy.runtime.drain_client import drain as run_drain

SIM = [
    "--engine",
    "simulated",
    "--model",
    "m",
    "--sim-ttft-ms",
    "20",
    "--sim-itl-ms",
    "20",
    "--max-num-seqs",
    "32",
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:
        yield c


async def _stream(
    client: httpx.AsyncClient, url: str, started: asyncio.Queue[int], i: int
) -> tuple[int, bool]:
    body = {"prompt": f"p{i}", "max_tokens": 60, "stream": True}
    words, done = 0, False
    async with client.stream("POST", f"{url}/v1/completions", json=body) as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                if words == 0:
                    started.put_nowait(i)
                words += len(json.loads(line[6:])["choices"][0]["text"].split())
    return words, done


async def test_32_streams_survive_a_drain_then_sigterm_exits_0(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    server = ServerProcess(
        SIM, log_path=tmp_path / "server.log", env={"VLLMDEPLOY_DRAIN_QUIET_S": "0.5"}
    )
    server.start()
    try:
        started: asyncio.Queue[int] = asyncio.Queue()
        streams = [asyncio.create_task(_stream(client, server.url, started, i)) for i in range(32)]
        for _ in range(32):  # every stream has produced its first token
            await asyncio.wait_for(started.get(), 20)
        assert (await client.get(f"{server.url}/health/ready")).status_code == 200

        t0 = time.monotonic()
        drain = asyncio.create_task(
            client.post(f"{server.url}/admin/drain", params={"timeout": 30})
        )
        while (await client.get(f"{server.url}/health/ready")).status_code != 503:
            pass
        unready_after = time.monotonic() - t0
        assert unready_after < 0.1, f"readiness took {unready_after:.3f}s to turn 503"
        assert not all(s.done() for s in streams), "streams should still be running"

        result = (await drain).json()
        assert all(s.done() for s in streams)
        assert [s.result() for s in streams] == [(60, True)] * 32
        assert (
            result["drained"] is True and result["reason"] == "quiet" and result["in_flight"] == 0
        )
        assert (await client.get(f"{server.url}/health/ready")).status_code == 503
        assert (await client.get(f"{server.url}/health/live")).status_code == 200
        metrics = (await client.get(f"{server.url}/metrics")).text
        assert "vllm_deploy_draining 1.0" in metrics

        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
    finally:
        server.terminate()


async def test_arrivals_during_the_quiet_period_are_served(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    env = {"VLLMDEPLOY_DRAIN_QUIET_S": "1.0"}
    with ServerProcess(SIM, log_path=tmp_path / "server.log", env=env) as server:
        t0 = time.monotonic()
        drain = asyncio.create_task(client.post(f"{server.url}/admin/drain"))
        codes = []
        for _ in range(4):  # endpoints still propagating: clients keep arriving
            await asyncio.sleep(0.3)
            resp = await client.post(
                f"{server.url}/v1/completions", json={"prompt": "x", "max_tokens": 3}
            )
            codes.append(resp.status_code)
        last_arrival = time.monotonic() - t0
        result = (await drain).json()
        assert codes == [200, 200, 200, 200]
        assert result["drained"] is True
        # Quiet is counted from the last arrival, not from the start of the drain.
        assert result["duration_seconds"] >= last_arrival + 1.0 - 0.2


def test_drain_command_exit_codes(tmp_path: Path) -> None:
    with ServerProcess(SIM, log_path=tmp_path / "server.log") as server:
        httpx.post(f"{server.url}/admin/sim/faults", json={"hang": True}).raise_for_status()
        with httpx.stream(
            "POST", f"{server.url}/v1/completions", json={"prompt": "x", "stream": True}, timeout=30
        ):
            cmd = [
                sys.executable,
                "-m",
                "vllm_deploy",
                "drain",
                "--port",
                str(server.port),
                "--timeout",
                "0.5",
                "--quiet",
                "0.1",
            ]
            hung = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            httpx.post(f"{server.url}/admin/sim/faults", json={"hang": False}).raise_for_status()
        assert hung.returncode == 1
        assert "deadline" in hung.stderr and "1 requests in flight" in hung.stderr
        ok = subprocess.run(
            [*cmd[:-4], "--timeout", "10", "--quiet", "0.1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["drained"] is True


def test_drain_command_fails_clearly_without_a_server() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vllm_deploy", "drain", "--port", "9", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: drain request to 127.0.0.1:9 failed")


@pytest.mark.parametrize(
    ("reason", "said"),
    [("deadline", "drain hit its deadline with 3 requests in flight"),
     ("stalled", "drain ended early: the engine is stalled (liveness restarts the pod) with 3"),
     ("cancelled", "drain was cancelled by POST /admin/undrain with 3")],
)  # fmt: skip
def test_the_drain_command_says_how_the_drain_ended(
    monkeypatch: pytest.MonkeyPatch, reason: str, said: str
) -> None:
    answer = {"drained": False, "reason": reason, "in_flight": 3, "duration_seconds": 1.0}

    def post(url: str, **kwargs: object) -> httpx.Response:
        return httpx.Response(200, json=answer, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    with pytest.raises(DrainFailed) as failed:
        run_drain("127.0.0.1", 8000, 1.0, None)
    assert str(failed.value).startswith(said)
