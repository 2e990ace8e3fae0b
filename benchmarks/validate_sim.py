"""The simulator's engine model against one real server process (make bench).

1. Start `vllm-deploy serve --engine simulated` (one process: the local cluster does not
   exist yet) and calibrate a profile from it with `calibrate`.
2. Replay Poisson traces open loop against it (streamed completions, the trace's prompt
   and output lengths), at three loads: TTFT p50/p95 and E2E p95 as the client sees them.
3. Simulate the same traces (same arrivals and lengths) on one warm pod with the profile.
Prints one row per load; docs/capacity.md has the numbers and the tolerance.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx

from vllm_deploy.harness import ServerProcess
from vllm_deploy.sim.calibrate import calibrate
from vllm_deploy.sim.policies import FixedPolicy
from vllm_deploy.sim.report import percentile
from vllm_deploy.sim.setup import Cluster, PodTemplate, SimSetup
from vllm_deploy.sim.simulator import simulate
from vllm_deploy.sim.trace import parse_trace
from vllm_deploy.spec.models import Slo

MAX_NUM_SEQS = 16
ENGINE = [
    "--engine",
    "simulated",
    "--model",
    "sim",
    "--max-num-seqs",
    str(MAX_NUM_SEQS),
    "--max-model-len",
    "4096",
    "--sim-ttft-ms",
    "50",
    "--sim-prefill-ms-per-token",
    "0.05",
    "--sim-itl-ms",
    "10",
    "--sim-load-factor",
    "1.0",
]
SHAPE = "prompt=200,prompt_sd=80,output=60,output_sd=25"
RATES, SECONDS = (2.0, 6.0, 10.0), 60.0


async def _one(
    client: httpx.AsyncClient, at: float, start: float, prompt: int, output: int
) -> tuple[float, float]:
    await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
    sent = time.perf_counter()
    body = {
        "model": "sim",
        "prompt": "hello " * prompt,
        "max_tokens": output,
        "stream": True,
        "ignore_eos": True,
    }
    first = math.inf
    async with client.stream("POST", "/v1/completions", json=body) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: {") and math.isinf(first) and json.loads(line[6:])["choices"]:
                first = time.perf_counter() - sent
    return first, time.perf_counter() - sent


async def _replay(
    url: str, arrivals: list[float], prompts: list[int], outputs: list[int]
) -> list[tuple[float, float]]:
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        start = time.perf_counter() + 0.5
        return await asyncio.gather(
            *(
                _one(client, a, start, p, o)
                for a, p, o in zip(arrivals, prompts, outputs, strict=True)
            )
        )


def main() -> None:
    with ServerProcess(ENGINE) as server:
        profile = calibrate(
            server.url,
            name="simulated-engine",
            max_concurrency=MAX_NUM_SEQS,
            max_num_seqs=MAX_NUM_SEQS,
        )
        s = profile.step
        print(
            f"calibrated: prefill {s.prefill_base_s * 1000:.1f} ms "
            f"+ {s.prefill_per_token_s * 1e6:.1f} us/token, "
            f"decode {s.decode_base_s * 1000:.2f} ms + {s.decode_per_seq_s * 1e6:.0f} us/seq, "
            f"interference {s.prefill_interference:.2f}"
        )
        template = PodTemplate(
            1, MAX_NUM_SEQS, profile.kv_cache_tokens, 4096, 0, 1.0, 10, 60, 5, 30, 1, 30, False
        )
        setup = SimSetup(template, Cluster(gpus=1), profile, Slo(), 1, 1)
        print(
            "| load (req/s) | requests "
            "| TTFT p50 measured / simulated (ms) | TTFT p95 measured / simulated (ms) "
            "| E2E p95 measured / simulated (s) |"
        )
        print("|---|---|---|---|---|")
        for i, rate in enumerate(RATES):
            trace = parse_trace(
                f"poisson:rate={rate:g},{SHAPE}", duration=SECONDS, seed=10 + i, max_model_len=4096
            )
            measured = asyncio.run(
                _replay(server.url, trace.arrivals, trace.prompt_tokens, trace.output_tokens)
            )
            run = simulate(setup, trace, FixedPolicy("one-pod", 1), seed=i)
            m_ttft = sorted(f for f, _ in measured)
            m_e2e = sorted(e for _, e in measured)
            s_ttft = sorted(run.first_token[r] - trace.arrivals[r] for r in range(len(trace)))
            s_e2e = sorted(run.done[r] - trace.arrivals[r] for r in range(len(trace)))
            print(
                f"| {rate:g} | {len(trace)} "
                f"| {percentile(m_ttft, 0.5) * 1000:.0f} / {percentile(s_ttft, 0.5) * 1000:.0f} "
                f"| {percentile(m_ttft, 0.95) * 1000:.0f} / {percentile(s_ttft, 0.95) * 1000:.0f} "
                f"| {percentile(m_e2e, 0.95):.2f} / {percentile(s_e2e, 0.95):.2f} |"
            )


if __name__ == "__main__":
    main()
