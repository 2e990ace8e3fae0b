"""Refusals written by the middleware carry the server's CORS headers.

vLLM 0.33.0 adds its CORSMiddleware, then each ``--middleware`` class, with
``app.add_middleware`` (vllm/entrypoints/serve/middleware/register.py lines 24-69); the last
added is the outermost, so ProductionMiddleware's own 401, 403 and 429 bypass vLLM's CORS
layer unless the middleware adds the headers itself.
"""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.middleware.cors import CORSMiddleware
from starlette.testclient import TestClient

from vllm_deploy.harness import ServerProcess
from vllm_deploy.runtime import ProductionMiddleware
from vllm_deploy.runtime.settings import MiddlewareSettings

UI = "https://ui.example"


def _vllm_ordered_app(settings: MiddlewareSettings, origins: list[str] | None) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        return {"object": "list", "data": []}

    if origins is not None:  # as vLLM: CORS first, from --allowed-origins and friends
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(ProductionMiddleware, settings=settings, registry=CollectorRegistry())
    return app


def _middleware(app: FastAPI) -> ProductionMiddleware:
    node: object = app.middleware_stack
    while not isinstance(node, ProductionMiddleware):
        node = node.app  # type: ignore[attr-defined]
    return node


def test_a_401_carries_cors_headers_for_an_allowed_origin_only() -> None:
    app = _vllm_ordered_app(MiddlewareSettings(api_key="k"), [UI])
    with TestClient(app) as client:
        resp = client.get("/v1/models", headers={"origin": UI})
        assert resp.status_code == 401
        assert resp.headers["access-control-allow-origin"] == UI
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.json()["error"]["type"] == "AuthenticationError"
        other = client.get("/v1/models", headers={"origin": "https://evil.example"})
        assert other.status_code == 401 and "access-control-allow-origin" not in other.headers
        plain = client.get("/v1/models")
        assert plain.status_code == 401 and "access-control-allow-origin" not in plain.headers


def test_a_429_carries_cors_headers_for_an_allowed_origin() -> None:
    app = _vllm_ordered_app(MiddlewareSettings(api_key="k", max_inflight=1), [UI])
    with TestClient(app) as client:
        _middleware(app).lifecycle.request_started()  # one request in flight: the limit
        resp = client.get("/v1/models", headers={"origin": UI, "authorization": "Bearer k"})
        assert resp.status_code == 429
        assert resp.headers["access-control-allow-origin"] == UI
        assert resp.headers["retry-after"] == "1"
        assert resp.json()["error"]["type"] == "RateLimitError"


def test_without_a_cors_layer_there_are_no_cors_headers() -> None:
    with TestClient(_vllm_ordered_app(MiddlewareSettings(api_key="k"), None)) as client:
        resp = client.get("/v1/models", headers={"origin": UI})
        assert resp.status_code == 401 and "access-control-allow-origin" not in resp.headers


def test_the_engine_server_answers_like_vllm_with_allowed_origins() -> None:
    args = ["--engine", "simulated", "--model", "m", "--allowed-origins", json.dumps([UI])]
    with ServerProcess(args, env={"VLLMDEPLOY_API_KEY": "k"}) as server:
        refused = httpx.get(f"{server.url}/v1/models", headers={"origin": UI})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == UI
        served = httpx.get(
            f"{server.url}/v1/models", headers={"origin": UI, "authorization": "Bearer k"}
        )
        assert served.status_code == 200
        assert served.headers["access-control-allow-origin"] == UI
