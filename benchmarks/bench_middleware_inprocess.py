"""What ProductionMiddleware's own code costs per request, without an HTTP server.

One process, one event loop: a stub ASGI app answers a 1-token completion (JSON body with
``model`` and ``usage``, as the engines send it) and is called directly, bare and wrapped in
the middleware, rounds alternating. The access log goes to /dev/null through the shipped
logging configuration (the direct write path); ``--no-access-log`` sets the access logger
to WARNING, as ``VLLMDEPLOY_LOG_LEVEL=WARNING`` does. Reported: the median µs per request
of each, and their difference: the middleware's share of the server CPU that
``bench_middleware.py`` measures around uvicorn.

Usage: python benchmarks/bench_middleware_inprocess.py [--rounds 5] [--requests 20000]
       [--no-access-log] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import logging.config
import os
import pstats
import statistics
import time
from importlib.resources import files
from typing import Any

from prometheus_client import CollectorRegistry

from vllm_deploy.runtime.middleware import ProductionMiddleware
from vllm_deploy.runtime.settings import load_settings

BODY = json.dumps(
    {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "sim",
        "choices": [{"index": 0, "text": "a", "logprobs": None, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 1, "total_tokens": 2, "completion_tokens": 1},
    }
).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/v1/completions",
    "query_string": b"",
    "client": ("127.0.0.1", 50000),
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"user-agent", b"OpenAI/Python"),
        (b"accept", b"application/json"),
    ],
}


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def send(message: Any) -> None:
    return None


async def _calls(asgi: Any, n: int) -> None:
    for _ in range(n):
        await asgi(dict(SCOPE), receive, send)


def _us_per_request(asgi: Any, n: int) -> float:
    asyncio.run(_calls(asgi, 200))  # warm-up
    start = time.perf_counter()
    asyncio.run(_calls(asgi, n))
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the middleware")
    opts = parser.parse_args()
    config = json.loads((files("vllm_deploy.runtime") / "logging.json").read_text())
    logging.config.dictConfig(config)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the handlers' lifetime
    for name in ("", "vllm_deploy", "vllm_deploy.access"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(devnull)
    settings = load_settings({"VLLMDEPLOY_LOG_LEVEL": "WARNING" if opts.no_access_log else "INFO"})
    wrapped = ProductionMiddleware(app, settings=settings, registry=CollectorRegistry())
    if opts.profile:
        profile = cProfile.Profile()
        profile.runcall(asyncio.run, _calls(wrapped, opts.requests))
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
        return
    bare: list[float] = []
    with_mw: list[float] = []
    for r in range(opts.rounds):  # alternate, each round starting with the other one
        pair = [(bare, app), (with_mw, wrapped)]
        for out, asgi in pair if r % 2 == 0 else reversed(pair):
            out.append(_us_per_request(asgi, opts.requests))
    log = "off" if opts.no_access_log else "on"
    print(f"# in-process, access log {log}: {opts.rounds} rounds x {opts.requests} requests")
    print(f"bare app:        {statistics.median(bare):7.2f} µs/request")
    print(f"with middleware: {statistics.median(with_mw):7.2f} µs/request")
    added = statistics.median(with_mw) - statistics.median(bare)
    print(f"middleware:      {added:7.2f} µs/request")


if __name__ == "__main__":
    main()
