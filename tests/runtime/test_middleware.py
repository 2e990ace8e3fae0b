"""ProductionMiddleware in process: vLLM's zero-argument contract, settings, own routes."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from vllm_deploy.contract import MIDDLEWARE_PATH
from vllm_deploy.engines import ENGINES, build_app
from vllm_deploy.harness import ServerProcess
from vllm_deploy.runtime import ProductionMiddleware, SettingsError, load_settings
from vllm_deploy.runtime import middleware as middleware_module
from vllm_deploy.runtime.auth import ApiKeys
from vllm_deploy.runtime.settings import MiddlewareSettings
from vllm_deploy.serve_config import ServeConfig, SimulatedSettings


def _vllm_like_app(health_status: int) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=health_status)

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        return {"object": "list", "data": []}

    return app


def test_vllm_applies_it_from_the_import_path_with_no_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(middleware_module, "REGISTRY", CollectorRegistry())  # keep the global clean
    monkeypatch.setenv("VLLMDEPLOY_MAX_INFLIGHT", "3")
    app = _vllm_like_app(200)
    # vLLM 0.33.0, vllm/entrypoints/serve/middleware/register.py, verbatim in effect:
    for middleware in [MIDDLEWARE_PATH]:
        module_path, object_name = middleware.rsplit(".", 1)
        imported = getattr(importlib.import_module(module_path), object_name)
        assert inspect.isclass(imported)
        app.add_middleware(imported)
    with TestClient(app, client=("127.0.0.1", 1234)) as client:
        assert client.get("/health/ready").json() == {"status": "ready"}
        resp = client.get("/v1/models")
        assert resp.status_code == 200 and len(resp.headers["x-request-id"]) == 32
    # The last added is the outermost of the app's middleware (Starlette's add_middleware).
    assert app.user_middleware[0].cls is ProductionMiddleware
    requests = middleware_module.REGISTRY.get_sample_value(
        "vllm_deploy_requests_total", {"route": "/v1/models", "code": "200"}
    )
    assert requests == 1


def test_readiness_follows_the_engines_own_health() -> None:
    app = ProductionMiddleware(
        _vllm_like_app(503), settings=MiddlewareSettings(), registry=CollectorRegistry()
    )
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 503
        assert client.get("/health/live").status_code == 200


def test_readiness_is_503_while_vllms_engine_sleeps() -> None:
    # vLLM 0.33.0 (vllm/v1/metrics/loggers.py): vllm:engine_sleep_state{sleep_state=...},
    # awake = 0 while sleeping; its /health stays 200 meanwhile.
    registry = CollectorRegistry()
    state = Gauge(
        "vllm:engine_sleep_state",
        "Engine sleep state",
        ["engine", "model_name", "sleep_state"],
        registry=registry,
    )

    def set_state(awake: int, level: int) -> None:
        state.labels("0", "m", "awake").set(awake)
        state.labels("0", "m", "weights_offloaded").set(int(level == 1))
        state.labels("0", "m", "discard_all").set(int(level == 2))

    set_state(awake=1, level=0)
    app = ProductionMiddleware(
        _vllm_like_app(200), settings=MiddlewareSettings(), registry=registry
    )
    with TestClient(app) as client:
        assert client.get("/health/ready").json() == {"status": "ready"}
        set_state(awake=0, level=1)
        resp = client.get("/health/ready")
        assert resp.status_code == 503 and resp.json() == {"status": "sleeping"}
        assert client.get("/health/live").status_code == 200  # asleep is not hung
        set_state(awake=1, level=0)
        assert client.get("/health/ready").status_code == 200


def test_readiness_waits_for_the_model_to_load() -> None:
    config = ServeConfig(engine="simulated", model="m", sim=SimulatedSettings(startup_s=0.3))
    registry = CollectorRegistry()
    app = ProductionMiddleware(
        build_app(config, ENGINES["simulated"], registry),
        settings=MiddlewareSettings(),
        registry=registry,
    )
    with TestClient(app) as client:
        assert client.get("/health/ready").json() == {"status": "engine not healthy"}
        time.sleep(0.5)
        assert client.get("/health/ready").json() == {"status": "ready"}


def test_drain_is_refused_to_non_loopback_clients() -> None:
    app = ProductionMiddleware(
        _vllm_like_app(200), settings=MiddlewareSettings(), registry=CollectorRegistry()
    )
    with TestClient(app, client=("10.0.0.7", 4444)) as client:
        resp = client.post("/admin/drain")
        assert resp.status_code == 403 and resp.json()["error"]["code"] == 403
        assert client.get("/health/ready").status_code == 200  # and nothing changed


def test_drain_rejects_bad_parameters() -> None:
    app = ProductionMiddleware(
        _vllm_like_app(200), settings=MiddlewareSettings(), registry=CollectorRegistry()
    )
    with TestClient(app, client=("127.0.0.1", 1)) as client:
        resp = client.post("/admin/drain?timeout=soon")
        assert resp.status_code == 400 and "timeout" in resp.json()["error"]["message"]
        assert client.get("/admin/drain").status_code == 405
        assert client.get("/health/ready").status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [("VLLMDEPLOY_MAX_INFLIGHT", "lots"), ("VLLMDEPLOY_MAX_INFLIGHT", "-1"),
     ("VLLMDEPLOY_DRAIN_QUIET_S", "-3"), ("VLLMDEPLOY_WATCHDOG_STALL_S", "0"),
     ("VLLMDEPLOY_LOG_LEVEL", "LOUD"), ("VLLMDEPLOY_API_KEY_FILE", "/no/such/file")],
)  # fmt: skip
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"{name} has value") and value in message and "\n" not in message


def test_api_keys_match_exactly_and_only_as_bearer(tmp_path: Path) -> None:
    keys = ApiKeys(["k1", "k2"])
    assert keys.allows(b"Bearer k1") and keys.allows(b"bearer k2")
    assert not keys.allows(b"Bearer k3") and not keys.allows(b"Basic k1") and not keys.allows(None)
    assert not keys.allows(b"Bearer k1k2") and not keys.allows(b"Bearer ")
    assert ApiKeys([]).allows(None) and not ApiKeys([]).enabled


def test_no_middleware_serves_the_bare_engine(tmp_path: Path) -> None:
    with ServerProcess(["--engine", "simulated", "--model", "m", "--no-middleware"]) as bare:
        assert httpx.get(f"{bare.url}/health/live").status_code == 404
        assert "x-request-id" not in httpx.get(f"{bare.url}/v1/models").headers
    with ServerProcess(["--engine", "simulated", "--model", "m"]) as wrapped:
        assert httpx.get(f"{wrapped.url}/health/live").status_code == 200
        assert "x-request-id" in httpx.get(f"{wrapped.url}/v1/models").headers


def _ws_app() -> FastAPI:
    app = _vllm_like_app(200)

    @app.websocket("/v1/realtime")
    async def realtime(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")
        await ws.receive_text()
        await ws.close()

    return app


def test_websockets_pass_the_same_gate_and_count_in_flight() -> None:
    registry = CollectorRegistry()
    mw = ProductionMiddleware(
        _ws_app(), settings=MiddlewareSettings(api_key="k"), registry=registry
    )
    with TestClient(mw) as client:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/v1/realtime"),
        ):
            pass
        assert refused.value.code == 1008
        with client.websocket_connect("/v1/realtime", headers={"authorization": "Bearer k"}) as ws:
            assert ws.receive_text() == "hello"
            assert mw.lifecycle.in_flight == 1
            ws.send_text("bye")
    assert (
        registry.get_sample_value("vllm_deploy_rejections_total", {"reason": "unauthorized"}) == 1
    )


def test_admin_routes_need_the_admin_token_and_refuse_proxied_requests() -> None:
    settings = MiddlewareSettings(admin_token="s3cret")
    mw = ProductionMiddleware(_vllm_like_app(200), settings=settings, registry=CollectorRegistry())
    with TestClient(mw, client=("127.0.0.1", 1)) as client:
        assert client.post("/admin/drain?quiet=0").status_code == 403
        proxied = {"x-vllm-deploy-admin-token": "s3cret", "x-forwarded-for": "10.0.0.9"}
        assert client.post("/admin/drain?quiet=0", headers=proxied).status_code == 403
        assert client.get("/health/ready").status_code == 200
        token = {"x-vllm-deploy-admin-token": "s3cret"}
        assert client.post("/admin/drain?quiet=0", headers=token).json()["drained"] is True
        assert client.get("/health/ready").status_code == 503
        assert client.post("/admin/undrain", headers=token).json() == {"draining": False}
        assert client.get("/health/ready").status_code == 200


def test_invalid_request_ids_are_replaced_for_the_engine_too() -> None:
    seen: list[str | None] = []
    app = _vllm_like_app(200)

    @app.get("/v1/echo")
    async def echo(request: Request) -> dict[str, str]:
        seen.append(request.headers.get("x-request-id"))
        return {}

    mw = ProductionMiddleware(app, settings=MiddlewareSettings(), registry=CollectorRegistry())
    with TestClient(mw) as client:
        resp = client.get("/v1/echo", headers={"x-request-id": "bad id with spaces"})
        assert (
            seen == [resp.headers["x-request-id"]]
            and resp.headers["x-request-id"] != "bad id with spaces"
        )
        resp = client.get("/v1/echo", headers={"x-request-id": "good-id-1"})
        assert seen[-1] == resp.headers["x-request-id"] == "good-id-1"


def test_cors_preflight_needs_no_key_and_probes_need_get() -> None:
    mw = ProductionMiddleware(
        _vllm_like_app(200), settings=MiddlewareSettings(api_key="k"), registry=CollectorRegistry()
    )
    with TestClient(mw) as client:
        assert client.options("/v1/models").status_code != 401
        assert client.post("/health/live").status_code == 405


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"VLLMDEPLOY_API_KEYS": "k"}, "VLLMDEPLOY_API_KEYS is not a setting"),
        ({"VLLMDEPLOY_API_KEY_FILE": "EMPTY"}, "it holds no key"),
    ],
)
def test_authentication_never_fails_open_silently(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    empty = tmp_path / "keys"
    empty.write_text("# no keys yet\n\n")
    environ = {k: str(empty) if v == "EMPTY" else v for k, v in environ.items()}
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


def test_api_keys_may_start_with_a_hash_when_given_by_variable() -> None:
    assert ApiKeys.from_settings(load_settings({"VLLMDEPLOY_API_KEY": "#k1,k2"})).allows(
        b"Bearer #k1"
    )


def test_a_scrape_counts_every_finished_request_and_sees_those_in_flight() -> None:
    registry = CollectorRegistry()
    release = asyncio.Event()
    app = FastAPI()

    @app.get("/v1/models")
    async def models(slow: bool = False) -> dict[str, object]:
        if slow:
            await release.wait()
        return {"object": "list", "data": []}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain")

    # Counting waits up to 10 s here, so only the scrape can have counted them.
    settings = MiddlewareSettings(flush_interval_s=10)
    wrapped = ProductionMiddleware(app, settings=settings, registry=registry)
    total = ("vllm_deploy_requests_total", {"route": "/v1/models", "code": "200"})

    async def scrape(client: httpx.AsyncClient) -> dict[str, float]:
        text = (await client.get("/metrics")).text
        families = text_string_to_metric_families(text)
        return {
            s.name: s.value
            for f in families
            for s in f.samples
            if s.name in ("vllm_deploy_requests_in_flight", "vllm_deploy_requests_total")
            and s.labels.get("route", "/v1/models") == "/v1/models"
        }

    async def main() -> None:
        transport = httpx.ASGITransport(app=wrapped, client=("127.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            for _ in range(3):
                assert (await client.get("/v1/models")).status_code == 200
            assert registry.get_sample_value(*total) is None  # not counted yet
            assert await scrape(client) == {
                "vllm_deploy_requests_total": 3,
                "vllm_deploy_requests_in_flight": 0,
            }
            slow = asyncio.create_task(client.get("/v1/models", params={"slow": True}))
            while wrapped.lifecycle.in_flight == 0:
                await asyncio.sleep(0.01)
            assert (await scrape(client))["vllm_deploy_requests_in_flight"] == 1
            release.set()
            assert (await slow).status_code == 200
            assert await scrape(client) == {
                "vllm_deploy_requests_total": 4,
                "vllm_deploy_requests_in_flight": 0,
            }

    asyncio.run(main())
