"""The OpenAI-compatible server of the GPU-free engines: vLLM's HTTP and metrics contract."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vllm_deploy import __version__
from vllm_deploy.contract import error_body
from vllm_deploy.engines.base import Engine, EngineError
from vllm_deploy.engines.errors import OpenAIError, VllmValidationError, from_vllm_error
from vllm_deploy.engines.generation import Generator
from vllm_deploy.engines.http_io import ClientGone
from vllm_deploy.engines.metrics import EngineMetrics
from vllm_deploy.engines.params import Limits
from vllm_deploy.engines.routes import (
    ChatCompletions,
    Completions,
    Detokenize,
    Responses,
    Served,
    Tokenize,
    model_list,
    version,
)
from vllm_deploy.engines.scheduler import Scheduler
from vllm_deploy.serve_config import ServeConfig

__all__ = ["EngineEntry", "build_app"]

logger = logging.getLogger("vllm_deploy.engine")


@dataclass(frozen=True)
class EngineEntry:
    """How to build one engine: its default context length and its constructor."""

    default_max_model_len: Callable[[ServeConfig], int]
    build: Callable[[ServeConfig, int, Scheduler], Engine]


class _State:
    def __init__(self) -> None:
        self.ready = False
        self.failed: str | None = None


def build_app(
    config: ServeConfig, entry: EngineEntry, registry: CollectorRegistry | None = None
) -> FastAPI:
    """Usage::

    uvicorn.run(build_app(ServeConfig(engine="simulated", model="m"), ENGINES[...]))
    """
    registry = registry if registry is not None else CollectorRegistry()
    max_model_len = config.max_model_len or entry.default_max_model_len(config)
    metrics = EngineMetrics(registry, config.model_name, max_model_len)
    kv_tokens = config.kv_cache_tokens or config.batch_size * max_model_len
    scheduler = Scheduler(config.batch_size, kv_tokens, metrics, config.scheduling_policy)
    engine = entry.build(config, max_model_len, scheduler)
    state = _State()
    tokenizer = engine.tokenizer
    served = Served(
        engine=engine,
        generator=Generator(engine, scheduler, metrics),
        limits=Limits(
            max_model_len=max_model_len,
            vocab_size=tokenizer.vocab_size,
            eos_token_id=tokenizer.eos_token_id,
            max_logprobs=config.max_logprobs,
            extra_eos_ids=engine.extra_eos_ids,
            defaults=engine.default_sampling(),
        ),
        model_name=config.model_name,
        engine_name=config.engine,
        body_limit=config.max_request_body_bytes,
        ready=lambda: state.ready,
    )

    async def load() -> None:
        try:
            await engine.load()
        except Exception as exc:  # the pod must report it, not die silently
            state.failed = f"{type(exc).__name__}: {exc}"
            logger.exception("engine failed to load")
            return
        state.ready = True
        logger.info("engine ready: %s serving %s", config.engine, config.model_name)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(load())
        try:
            yield
        finally:
            loading.cancel()
            await engine.close()

    app = FastAPI(title="vllm-deploy engine server", version=__version__, lifespan=lifespan)
    # As vLLM's server (vllm/entrypoints/serve/middleware/register.py): its flags' defaults.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=config.allowed_origins,
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["*"],
    )

    @app.exception_handler(OpenAIError)
    async def _openai_error(_: Request, exc: OpenAIError) -> Response:
        return exc.response()

    @app.exception_handler(ClientGone)
    async def _client_gone(_: Request, exc: ClientGone) -> Response:
        # Nobody reads it; 499 (nginx's "client closed request") keeps it out of the 5xx.
        return Response(status_code=499)

    @app.exception_handler(VllmValidationError)
    async def _vllm_error(_: Request, exc: VllmValidationError) -> Response:
        return from_vllm_error(exc).response()

    @app.exception_handler(EngineError)
    async def _engine_error(_: Request, exc: EngineError) -> Response:
        return OpenAIError(500, f"engine error: {exc}").response()

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> Response:
        # As vLLM's handlers/http.py: the type is the status's phrase ("Not Found").
        phrase = HTTPStatus(exc.status_code).phrase
        return OpenAIError(
            exc.status_code, str(exc.detail), err_type=phrase, headers=dict(exc.headers or {})
        ).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        logger.exception("unhandled error")
        return JSONResponse(error_body("internal server error", "InternalServerError", 500), 500)

    @app.get("/health")
    async def health() -> Response:
        # As vLLM: empty 200 when the engine can serve, 503 otherwise (loading or failed).
        return Response(status_code=200 if state.ready else 503)

    @app.get("/version")
    async def version_endpoint() -> dict[str, str]:
        return version(config.engine)

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        return model_list(config.model_name, config.model, max_model_len)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/v1/completions", Completions(served), methods=["POST"])
    app.add_api_route("/v1/chat/completions", ChatCompletions(served), methods=["POST"])
    app.add_api_route("/v1/responses", Responses(served), methods=["POST"])
    app.add_api_route("/tokenize", Tokenize(served), methods=["POST"])
    app.add_api_route("/detokenize", Detokenize(served), methods=["POST"])
    app.router.routes.extend(engine.routes())
    return app
