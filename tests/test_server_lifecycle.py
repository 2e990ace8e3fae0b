"""SIGTERM on our server: stop accepting, finish in-flight streams, exit 0."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from vllm_deploy.harness import ServerProcess


def test_sigterm_lets_in_flight_streams_finish(tmp_path: Path) -> None:
    args = [
        "--engine",
        "simulated",
        "--model",
        "m",
        "--sim-ttft-ms",
        "10",
        "--sim-itl-ms",
        "20",
        "--shutdown-timeout",
        "20",
    ]
    server = ServerProcess(args, log_path=tmp_path / "server.log").start()
    try:
        body = {"prompt": "x", "max_tokens": 40, "stream": True}
        with httpx.stream("POST", f"{server.url}/v1/completions", json=body, timeout=30) as resp:
            lines = resp.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line.startswith("data: ")]
        words = sum(
            len(httpx.Response(200, content=x[6:]).json()["choices"][0]["text"].split())
            for x in [first, *rest[:-1]]
        )
        assert rest[-1] == "data: [DONE]"
        assert words == 40
        assert server.proc.wait(30) == 0
    finally:
        server.terminate()
