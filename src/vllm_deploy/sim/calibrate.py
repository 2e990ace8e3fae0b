"""``vllm-deploy calibrate``: an engine profile measured on a live OpenAI-compatible server.

Three measurements over streamed ``/v1/completions`` (vLLM, or our simulated engine):
1. **Prefill**: time to first token, one request at a time, for several prompt lengths
   (token counts from the response's ``usage``); a least-squares line gives
   ``prefill_base_s`` and ``prefill_per_token_s``.
2. **Decode**: inter-token latency with 1, 2, 4 ... requests streaming at once (up to
   ``max_concurrency``), each asked for exactly ``decode_tokens`` tokens; a line over the
   batch size gives ``decode_base_s`` and ``decode_per_seq_s``.
3. **Interference**: one long stream's inter-token latency while long prompts are
   prefilled beside it, against what the decode line predicts; the excess over the
   prefills' per-token time is ``prefill_interference`` (0 to 1); and whether simultaneous
   long prompts wait for each other (``prefill_serial``).

Before measuring, a few requests warm the server up and are not counted: a fresh process's
first requests are slower (lazy imports, caches), and one such point pulls the prefill line's
intercept up (a cold first request read 72 ms where the warm ones read 45 ms).

Startup and CPU figures cannot be measured from the API: the profile keeps the defaults and
says so. The server must be idle while it is measured.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from vllm_deploy.sim.profile import EngineProfile, Source, Step

__all__ = ["CalibrationError", "Measurements", "calibrate", "fit_line"]

PROMPT_WORDS = (16, 128, 512, 1024)
WORD = "hello "


class CalibrationError(RuntimeError):
    """The server could not be measured: the message says what failed."""


@dataclass
class Measurements:
    model: str
    ttft: list[tuple[int, float]]  # (prompt tokens, seconds)
    itl: list[tuple[int, float]]  # (streams at once, seconds)
    interference: float
    serial: bool


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares ``y = a + b x``; intercept and slope clamped at 0."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if len(set(xs)) < 2:
        return max(0.0, statistics.fmean(ys)), 0.0
    slope, intercept = statistics.linear_regression(xs, ys)
    return max(0.0, intercept), max(0.0, slope)


async def _stream(
    client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int
) -> tuple[float, list[float], int]:
    """(time to first token, token arrival times, prompt tokens) of one streamed completion."""
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "stream": True,
        "temperature": 0,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    stamps: list[float] = []
    prompt_tokens = 0
    async with client.stream("POST", "/v1/completions", json=body) as resp:
        if resp.status_code != 200:
            raise CalibrationError(
                f"POST /v1/completions answered {resp.status_code}: {(await resp.aread())[:200]!r}"
            )
        async for line in resp.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                prompt_tokens = int(chunk["usage"]["prompt_tokens"])
            if chunk.get("choices") and chunk["choices"][0].get("text"):
                stamps.append(time.perf_counter())
    if not stamps:
        raise CalibrationError("the server streamed no tokens")
    return stamps[0] - start, stamps, prompt_tokens


def _mean_gap(stamps: list[float]) -> float:
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else 0.0


async def _measure(
    url: str,
    model: str | None,
    max_concurrency: int,
    decode_tokens: int,
    repeats: int,
    log: Callable[[str], None],
) -> Measurements:
    async with httpx.AsyncClient(
        base_url=url, timeout=300, limits=httpx.Limits(max_connections=max_concurrency + 4)
    ) as client:
        if model is None:
            resp = await client.get("/v1/models")
            resp.raise_for_status()
            model = str(resp.json()["data"][0]["id"])
        for words in (PROMPT_WORDS[0], PROMPT_WORDS[-1]):  # warm-up, not measured
            await _stream(client, model, WORD * words, 2)
        await asyncio.gather(
            *(_stream(client, model, WORD * 8, 4) for _ in range(min(max_concurrency, 4)))
        )
        ttft: list[tuple[int, float]] = []
        for words in PROMPT_WORDS:
            for _ in range(repeats):
                first, _, tokens = await _stream(client, model, WORD * words, 2)
                ttft.append((tokens, first))
            first_s = statistics.median(f for _, f in ttft[-repeats:])
            log(f"prefill: {ttft[-1][0]} prompt tokens -> {first_s * 1000:.1f} ms")
        itl: list[tuple[int, float]] = []
        streams = 1
        while streams <= max_concurrency:
            for _ in range(repeats):
                results = await asyncio.gather(
                    *(_stream(client, model, WORD * 8, decode_tokens) for _ in range(streams))
                )
                itl.append((streams, statistics.fmean(_mean_gap(s) for _, s, _ in results)))
            gap_s = statistics.median(g for _, g in itl[-repeats:])
            log(f"decode: {streams} at once -> {gap_s * 1000:.2f} ms/token")
            streams *= 2
        interference = await _interference(client, model, ttft, itl, decode_tokens)
        log(f"prefill interference: {interference:.2f}")
        serial = await _serial_prefill(client, model)
        log(f"prefills queue behind each other: {serial}")
    return Measurements(model, ttft, itl, interference, serial)


async def _serial_prefill(client: httpx.AsyncClient, model: str, count: int = 4) -> bool:
    """Do simultaneous long prompts wait for each other? (the last one takes ~count x longer)"""
    alone, _, _ = await _stream(client, model, WORD * PROMPT_WORDS[-1], 1)
    together = await asyncio.gather(
        *(_stream(client, model, WORD * PROMPT_WORDS[-1], 1) for _ in range(count))
    )
    return max(first for first, _, _ in together) > (1 + count) / 2 * alone


async def _interference(
    client: httpx.AsyncClient,
    model: str,
    ttft: list[tuple[int, float]],
    itl: list[tuple[int, float]],
    decode_tokens: int,
) -> float:
    _, per_token = fit_line([(float(x), y) for x, y in ttft])
    d0, d1 = fit_line([(float(x), y) for x, y in itl])
    if per_token <= 0:
        return 0.0
    long = asyncio.create_task(_stream(client, model, WORD * 8, decode_tokens * 4))
    await asyncio.sleep(d0 * 5)
    prefilled = 0
    while not long.done():
        _, _, tokens = await _stream(client, model, WORD * PROMPT_WORDS[-1], 1)
        prefilled += tokens
    _, stamps, _ = await long
    observed = stamps[-1] - stamps[0]
    expected = (len(stamps) - 1) * (d0 + 2 * d1)  # the stream shares the batch with one prefill
    return min(1.0, max(0.0, (observed - expected) / (per_token * prefilled))) if prefilled else 0.0


def calibrate(
    url: str,
    *,
    name: str,
    model: str | None = None,
    gpu: str = "unknown",
    max_concurrency: int = 16,
    max_num_seqs: int = 16,
    kv_cache_tokens: int | None = None,
    decode_tokens: int = 64,
    repeats: int = 3,
    log: Callable[[str], None] = lambda _: None,
) -> EngineProfile:
    """Usage: ``calibrate("http://127.0.0.1:8000", name="my-engine").model_dump()``."""
    try:
        m = asyncio.run(
            _measure(url.rstrip("/"), model, max_concurrency, decode_tokens, repeats, log)
        )
    except httpx.HTTPError as exc:
        raise CalibrationError(f"{url}: {exc}") from None
    prefill_base, prefill_per_token = fit_line([(float(x), y) for x, y in m.ttft])
    decode_base, decode_per_seq = fit_line([(float(x), y) for x, y in m.itl])
    step = Step(
        prefill_base_s=round(prefill_base, 7),
        prefill_per_token_s=round(prefill_per_token, 9),
        decode_base_s=round(max(decode_base, 1e-6), 7),
        decode_per_seq_s=round(decode_per_seq, 9),
        prefill_interference=round(m.interference, 3),
        prefill_serial=m.serial,
    )
    ttft_text = ", ".join(f"{x} tok: {y * 1000:.1f} ms" for x, y in m.ttft[::repeats])
    itl_text = ", ".join(f"{x}: {y * 1000:.2f} ms" for x, y in m.itl[::repeats])
    return EngineProfile(
        name=name,
        model=m.model,
        gpu=gpu,
        engine="measured",
        max_num_seqs=max_num_seqs,
        kv_cache_tokens=kv_cache_tokens or max_num_seqs * 4096,
        step=step,
        notes=(
            "Measured by vllm-deploy calibrate: the step model only. Startup and CPU figures are "
            "the defaults, not measurements."
        ),
        sources=[
            Source(
                figure="time to first token by prompt length, one request at a time",
                value=ttft_text,
                setup=f"{url}, model {m.model}, {repeats} repeats",
                url=url,
            ),
            Source(
                figure="inter-token latency by streams at once",
                value=itl_text,
                setup=f"{url}, {decode_tokens} tokens per stream",
                url=url,
            ),
        ],
    )
