"""`vllm-deploy serve --engine reference|simulated`: the engine app behind uvicorn."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from types import FrameType

import uvicorn
from prometheus_client import REGISTRY
from starlette.types import ASGIApp

from vllm_deploy.engines import ENGINES, build_app
from vllm_deploy.runtime.gate import AdminGate
from vllm_deploy.runtime.logs import configure_logging
from vllm_deploy.runtime.middleware import ProductionMiddleware
from vllm_deploy.runtime.settings import load_settings
from vllm_deploy.serve_config import ServeConfig

__all__ = ["run_engine"]


def run_engine(config: ServeConfig, extra_args: Sequence[str]) -> None:
    if extra_args:
        raise ValueError(
            f"extra arguments {list(extra_args)} are passed only to --engine vllm; "
            f"the {config.engine} engine takes none"
        )
    settings = load_settings()
    configure_logging(settings.log_level)
    # One registry for the process, as in vLLM: engine and middleware metrics on one /metrics.
    app: ASGIApp = build_app(config, ENGINES[config.engine], REGISTRY)
    if config.middleware:
        app = ProductionMiddleware(app, settings=settings, registry=REGISTRY)
    else:  # the bare engine still serves its admin routes to the pod itself only
        app = AdminGate(app, settings)
    # On SIGTERM uvicorn stops accepting, then waits for in-flight requests up to the
    # shutdown timeout before it cancels the rest (vLLM's --shutdown-timeout semantics).
    server = _GracefulServer(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_config=None,  # configure_logging did it: JSON, like every other line
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=config.shutdown_timeout,
            access_log=False,
        )
    )
    server.run()


class _GracefulServer(uvicorn.Server):
    """Exits 0 after a graceful SIGTERM shutdown.

    uvicorn re-raises the captured signal once it has shut down, so the process would die
    "killed by SIGTERM" (exit 143) even after every request finished; for Kubernetes that
    is an error exit. A second SIGTERM or a SIGINT keeps uvicorn's behaviour.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first_term = sig == signal.SIGTERM and not self.should_exit
        super().handle_exit(sig, frame)
        if first_term:
            self._captured_signals.remove(sig)
