"""The local API server as a task on the cluster's event loop (uvicorn, no signal handlers:
the cluster owns SIGINT and SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Sequence

import uvicorn
from starlette.routing import BaseRoute

from vllm_deploy.local.api.server import Aggregated, Evictor, LogReader, build_api
from vllm_deploy.local.store import Store

__all__ = ["ApiServerTask"]


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ApiServerTask:
    """Usage: ``api = ApiServerTask(store, port, logs, evict)``; ``await api.start()``."""

    def __init__(
        self,
        store: Store,
        port: int,
        logs: LogReader,
        evict: Evictor,
        extra: Sequence[BaseRoute] = (),
        aggregated: Aggregated | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        app = build_api(store, f"127.0.0.1:{port}", logs, evict, extra, aggregated)
        self._server = _QuietServer(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=1,
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task = None  # uvicorn exits the process when it cannot bind
                raise OSError(f"the API server cannot listen on 127.0.0.1:{self.port} (in use?)")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await self._task
