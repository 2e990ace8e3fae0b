"""Closed-loop HTTP load on loopback, shared by the benchmarks.

Two clients: ``closed_loop`` (httpx, as applications call a server) and ``lean_closed_loop``
(asyncio protocols and httptools' C parser on kept-alive connections, about a tenth of
httpx's CPU per request), for measuring what a server can serve: with httpx on one core the
client, not a fast server, is what saturates first.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx

__all__ = ["Point", "closed_loop", "lean_closed_loop"]


@dataclass
class Point:
    label: str
    concurrency: int
    requests: int
    tokens: int
    chunks: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def row(self) -> str:
        p50 = statistics.median(self.latencies) * 1000
        return (
            f"| {self.label} | {self.concurrency} | {self.rps:.1f} | "
            f"{self.tokens / self.seconds:.0f} | {self.chunks / self.seconds:.0f} | {p50:.1f} |"
        )


async def _one(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> tuple[int, int]:
    if not body.get("stream"):
        resp = await client.post(url, json=body)
        resp.raise_for_status()
        return int(resp.json()["usage"]["completion_tokens"]), 1
    chunks = tokens = 0
    async with client.stream("POST", url, json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if line.startswith("data: {"):
                chunks += 1
                if json.loads(line[6:])["choices"]:
                    tokens += 1
    return tokens, chunks  # one token per chunk; the last one also carries finish_reason


async def closed_loop(
    url: str, body: dict[str, object], concurrency: int, seconds: float, label: str
) -> Point:
    point = Point(label, concurrency, 0, 0, 0, 0.0, [])
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for _ in range(concurrency):  # warm-up: open connections, load caches
            await _one(client, url, body)
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                tokens, chunks = await _one(client, url, body)
                point.latencies.append(time.perf_counter() - t0)
                point.requests += 1
                point.tokens += tokens
                point.chunks += chunks

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        point.seconds = time.perf_counter() - start
    return point


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection sending the same request again and again."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._done: asyncio.Future[tuple[int, bytes]] | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, body: bytes) -> None:  # httptools callback (chunked encoding undone)
        self._body.append(body)

    def on_message_complete(self) -> None:  # httptools callback
        assert self._done is not None
        self._done.set_result((self._parser.get_status_code(), b"".join(self._body)))
        self._body = []

    def connection_lost(self, exc: Exception | None) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError(f"connection lost: {exc}"))

    def send(self) -> asyncio.Future[tuple[int, bytes]]:
        assert self._transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._transport.write(self._request)
        return self._done

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _count(body: bytes, stream: bool) -> tuple[int, int]:
    """(tokens, chunks) of one answer, read as ``_one`` reads them; a bad answer raises."""
    if not stream:
        return int(json.loads(body)["usage"]["completion_tokens"]), 1
    chunks = tokens = 0
    for line in body.split(b"\n"):
        if line.startswith(b"data: {"):
            chunks += 1
            if json.loads(line[6:])["choices"]:
                tokens += 1
    return tokens, chunks


async def lean_closed_loop(
    url: str, body: dict[str, object], concurrency: int, seconds: float, label: str
) -> Point:
    """``closed_loop`` with a lean client: same requests, same point, far less client CPU."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    data = json.dumps(body).encode()
    request = (
        f"POST {parts.path} HTTP/1.1\r\nhost: {parts.netloc}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
    ).encode() + data
    stream = bool(body.get("stream"))
    loop = asyncio.get_running_loop()
    connections: list[_Connection] = []
    point = Point(label, concurrency, 0, 0, 0, 0.0, [])
    try:
        for _ in range(concurrency):  # warm-up: open connections, one request each
            _, connection = await loop.create_connection(lambda: _Connection(request), host, port)
            connections.append(connection)
            status, answer = await connection.send()
            if status != 200:
                raise RuntimeError(f"{url}: {status} {answer[:200]!r}")
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(connection: _Connection) -> None:
            while (t0 := time.perf_counter()) < deadline:
                status, answer = await connection.send()
                if status != 200:
                    raise RuntimeError(f"{url}: {status} {answer[:200]!r}")
                point.latencies.append(time.perf_counter() - t0)
                tokens, chunks = _count(answer, stream)
                point.requests += 1
                point.tokens += tokens
                point.chunks += chunks

        await asyncio.gather(*(worker(c) for c in connections))
        point.seconds = time.perf_counter() - start
    finally:
        for connection in connections:
            connection.close()
    return point
