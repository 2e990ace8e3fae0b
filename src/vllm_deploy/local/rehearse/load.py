"""Streamed load for rehearsals: chat completions through a Service's port, one record each.

Two ways to send: ``run`` is closed loop (a number of clients, each sending its next request
when the last one ended); ``replay`` is open loop (each request at its arrival time, with its
own prompt and output lengths, however many are in flight: the arrival process the capacity
simulator reads, ``vllm_deploy.sim.trace``).

Each request is a streamed ``/v1/chat/completions`` with ``stream_options.include_usage``,
read to the end. It is **ok** when the status is 200 and the stream ends with a chunk
carrying ``finish_reason`` and then ``data: [DONE]``; **truncated** when a 200 stream ends
early (the connection was cut); **failed** otherwise (a non-200 status or a transport error).
A failed or truncated attempt is retried up to ``retries`` times.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

__all__ = ["Load", "RequestRecord", "summarise"]


@dataclass
class RequestRecord:
    """One request (its last attempt); times are monotonic seconds since the load began."""

    index: int
    start: float
    end: float = 0.0
    status: int | None = None
    outcome: str = "failed"  # ok | truncated | failed
    error: str | None = None
    attempts: int = 0
    ttft_s: float | None = None
    first_outcome: str = ""  # the first attempt's outcome
    # Open loop (``replay``): when the trace sends it, and the lengths it asks for.
    scheduled: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    completion_tokens: int | None = None  # what the stream's usage chunk reported

    def request_id(self, attempt: int) -> str:
        """The X-Request-Id of an attempt (1-based), which nginx's access log records."""
        return f"r{self.index}-a{attempt}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Load:
    """Usage: ``load = Load(url, "sim")``; ``await load.run(total=200, concurrency=16)``."""

    url: str
    model: str
    max_tokens: int = 32
    api_key: str | None = None
    retries: int = 0
    timeout_s: float = 120.0
    records: list[RequestRecord] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)  # the same instant, epoch seconds
    concurrency: int = 0  # the target now (burst changes it)
    in_flight: int = 0
    stopped: bool = False  # stop(): each worker ends after its request in flight

    def stop(self) -> None:
        """Ends ``run`` once the requests in flight have finished (none is cut)."""
        self.stopped = True

    def _body(self, record: RequestRecord) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "stream": True,
            "max_tokens": self.max_tokens,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": f"rehearsal request {record.index}"}],
        }
        if record.prompt_tokens is not None:
            # One token per word for the simulated engine's tokenizer (the chat template
            # adds its few role tokens); exactly ``output_tokens`` come back.
            body["messages"][0]["content"] = "hello " * record.prompt_tokens
        if record.output_tokens is not None:
            body["max_tokens"], body["ignore_eos"] = record.output_tokens, True
        return body

    async def _attempt(self, client: httpx.AsyncClient, record: RequestRecord) -> None:
        record.attempts += 1
        headers = {"x-request-id": record.request_id(record.attempts)}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        record.status, record.error, record.ttft_s, record.completion_tokens = (
            None,
            None,
            None,
            None,
        )
        begin = time.monotonic()
        done = finished = False
        try:
            async with client.stream(
                "POST",
                f"{self.url}/v1/chat/completions",
                json=self._body(record),
                headers=headers,
                timeout=self.timeout_s,
            ) as resp:
                record.status = resp.status_code
                if resp.status_code != 200:
                    await resp.aread()
                    record.outcome = "failed"
                    return
                async for line in resp.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    data = line.removeprefix("data: ")
                    if data == "[DONE]":
                        done = True
                        continue
                    chunk = json.loads(data)
                    if chunk.get("usage"):
                        record.completion_tokens = chunk["usage"].get("completion_tokens")
                    for choice in chunk.get("choices") or []:
                        if record.ttft_s is None and (choice.get("delta") or {}).get("content"):
                            record.ttft_s = time.monotonic() - begin
                        if choice.get("finish_reason"):
                            finished = True
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            record.error = f"{type(exc).__name__}: {exc}"[:200]
            record.outcome = "truncated" if record.status == 200 else "failed"
            return
        record.outcome = "ok" if done and finished else "truncated"

    async def _one(
        self, client: httpx.AsyncClient, index: int, record: RequestRecord | None = None
    ) -> None:
        if record is None:
            record = RequestRecord(index=index, start=time.monotonic() - self.started)
            self.records.append(record)
        self.in_flight += 1
        try:
            for attempt in range(self.retries + 1):
                await self._attempt(client, record)
                if attempt == 0:
                    record.first_outcome = record.outcome
                if record.outcome == "ok":
                    break
                await asyncio.sleep(0.2)
        finally:
            self.in_flight -= 1
            record.end = time.monotonic() - self.started

    async def run(
        self, total: int | None = None, concurrency: int = 8, duration_s: float | None = None
    ) -> None:
        """Sends ``total`` requests (or for ``duration_s``) with ``concurrency`` in flight."""
        self.concurrency = concurrency
        deadline = None if duration_s is None else time.monotonic() + duration_s
        counter = iter(range(len(self.records), 10**9))
        sent = 0
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)

        async def worker(slot: int) -> None:
            nonlocal sent
            async with httpx.AsyncClient(limits=limits) as client:
                while True:
                    if self.stopped or (deadline is not None and time.monotonic() >= deadline):
                        return
                    if total is not None and sent >= total:
                        return
                    if slot >= self.concurrency:
                        await asyncio.sleep(0.05)
                        continue
                    sent += 1
                    await self._one(client, next(counter))

        await asyncio.gather(*(worker(i) for i in range(concurrency)))

    async def replay(
        self,
        arrivals: Sequence[float],
        prompt_tokens: Sequence[int],
        output_tokens: Sequence[int],
        offset_s: float = 0.0,
    ) -> None:
        """Open loop: request ``i`` is sent ``offset_s + arrivals[i]`` seconds after the load
        began (its ``scheduled`` time), asking for its prompt and output lengths, whatever is
        in flight; returns when every request has ended (or when ``stop`` is called, after
        those in flight)."""
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        tasks: list[asyncio.Task[None]] = []
        async with httpx.AsyncClient(limits=limits) as client:
            for at, prompt, output in zip(arrivals, prompt_tokens, output_tokens, strict=True):
                due = self.started + offset_s + at
                if (delay := due - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                if self.stopped:
                    break
                now = time.monotonic() - self.started
                record = RequestRecord(
                    index=len(self.records),
                    start=now,
                    prompt_tokens=prompt,
                    output_tokens=output,
                    scheduled=round(offset_s + at, 6),
                )
                self.records.append(record)
                tasks.append(asyncio.create_task(self._one(client, record.index, record)))
            await asyncio.gather(*tasks)


def summarise(records: list[RequestRecord]) -> dict[str, Any]:
    """Counts by outcome and status, and latency medians of the ok requests."""
    by_status = Counter(str(r.status) if r.status is not None else "error" for r in records)
    ok = [r for r in records if r.outcome == "ok"]
    ttfts = sorted(r.ttft_s for r in ok if r.ttft_s is not None)
    e2e = sorted(r.end - r.start for r in ok)

    def median(values: list[float]) -> float | None:
        return round(values[len(values) // 2], 4) if values else None

    return {
        "total": len(records),
        "ok": len(ok),
        "failed": sum(r.outcome == "failed" for r in records),
        "truncated": sum(r.outcome == "truncated" for r in records),
        "retried": sum(r.attempts > 1 for r in records),
        "first_attempt_failed": sum(r.first_outcome not in ("ok", "") for r in records),
        "first_attempt_failed_ids": [
            r.request_id(1) for r in records if r.first_outcome not in ("ok", "")
        ][:100],
        "by_status": dict(sorted(by_status.items())),
        "ttft_p50_s": median(ttfts),
        "e2e_p50_s": median(e2e),
    }
