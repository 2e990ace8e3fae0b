"""`vllm-deploy calibrate` against a real server process: our simulated engine, whose latency
model is known, so the fitted profile can be checked against its settings."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from vllm_deploy.harness import ServerProcess, free_port
from vllm_deploy.sim.calibrate import calibrate, fit_line
from vllm_deploy.sim.profile import load_profile

# TTFT = 30 ms + 0.1 ms/token; ITL = 8 ms x (1 + 1.0 x (running - 1) / 7) with max_num_seqs 8.
ENGINE = [
    "--engine",
    "simulated",
    "--model",
    "calib",
    "--max-num-seqs",
    "8",
    "--max-model-len",
    "4096",
    "--sim-ttft-ms",
    "30",
    "--sim-prefill-ms-per-token",
    "0.1",
    "--sim-itl-ms",
    "8",
    "--sim-load-factor",
    "1.0",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(ENGINE, log_path=tmp_path_factory.mktemp("logs") / "calib.log") as server:
        yield server


def test_fit_line() -> None:
    assert fit_line([(1, 3.0), (2, 5.0), (3, 7.0)]) == pytest.approx((1.0, 2.0))
    assert fit_line([(4, 2.0), (4, 4.0)]) == (3.0, 0.0)


def test_calibrate_recovers_the_engines_latency_model(
    engine: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "sim-engine.yaml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vllm_deploy",
            "calibrate",
            "--url",
            engine.url,
            "-o",
            str(out),
            "--max-concurrency",
            "8",
            "--max-num-seqs",
            "8",
            "--repeats",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "prefill:" in proc.stderr and "decode:" in proc.stderr
    profile = load_profile(out)
    step = profile.step
    # Timer and HTTP overheads on a shared 2-core machine add a few ms; the slopes must match.
    assert 0.025 < step.prefill_base_s < 0.060
    assert step.prefill_per_token_s == pytest.approx(0.0001, rel=0.35)
    assert 0.007 < step.decode_base_s + step.decode_per_seq_s < 0.012
    assert step.decode_per_seq_s == pytest.approx(0.008 / 7, rel=0.5)
    assert step.prefill_interference < 0.3 and not step.prefill_serial  # no shared device
    assert profile.max_num_seqs == 8 and profile.sources and profile.model == "calib"


class _ColdServer:
    """An OpenAI-style streaming server whose first ``cold`` requests take 300 ms longer, as a
    fresh process's do: TTFT 20 ms + 0.1 ms/token, ITL 4 ms."""

    def __init__(self, cold: int = 2) -> None:
        self.cold = cold
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/v1/models", self._models),
                Route("/v1/completions", self._complete, methods=["POST"]),
            ]
        )
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _models(self, request: Request) -> JSONResponse:
        return JSONResponse({"data": [{"id": "cold"}]})

    async def _complete(self, request: Request) -> StreamingResponse:
        body = await request.json()
        prompt = len(body["prompt"].split())
        extra = 0.3 if self.cold > 0 else 0.0
        self.cold -= 1

        async def stream() -> AsyncIterator[str]:
            await asyncio.sleep(0.02 + 0.0001 * prompt + extra)
            for i in range(body["max_tokens"]):
                if i:
                    await asyncio.sleep(0.004)
                yield f"data: {json.dumps({'choices': [{'index': 0, 'text': ' w'}]})}\n\n"
            usage = {"prompt_tokens": prompt, "completion_tokens": body["max_tokens"]}
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    def __enter__(self) -> _ColdServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_a_cold_server_s_first_requests_do_not_bias_the_fit() -> None:
    with _ColdServer() as server:
        profile = calibrate(
            server.url, name="cold", max_concurrency=2, max_num_seqs=2, decode_tokens=8, repeats=1
        )
    step = profile.step
    assert step.prefill_base_s == pytest.approx(0.02, abs=0.012)  # 0.32 s cold would read ~0.1
    assert step.prefill_per_token_s == pytest.approx(0.0001, rel=0.5)
