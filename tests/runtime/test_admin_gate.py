"""Every /admin/ route passes the one gate: the middleware's own and the engines' alike.

The routes are discovered, not listed: the middleware's admin table and every route an
engine app serves under /admin/. Each one, with each method it answers, is refused to a
remote client, to a proxied request, without the admin token and without an API key, and
served to the pod itself. The same holds for a bare engine (``serve --no-middleware``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from vllm_deploy.contract import ADMIN_PATHS, ADMIN_PREFIX, ADMIN_TOKEN_HEADER, SIM_FAULTS_PATH
from vllm_deploy.engines import ENGINES, build_app
from vllm_deploy.runtime import MiddlewareSettings, ProductionMiddleware
from vllm_deploy.runtime.gate import AdminGate
from vllm_deploy.runtime.metrics import route_label
from vllm_deploy.serve_config import ServeConfig

TOKEN = "s3cret-admin"
KEY = "sk-admin-gate"
SETTINGS = MiddlewareSettings(admin_token=TOKEN, api_key=KEY)
INSIDE = {ADMIN_TOKEN_HEADER.decode(): TOKEN, "authorization": f"Bearer {KEY}"}


def _engine_app(engine: str = "simulated", model: str = "m") -> ASGIApp:
    return build_app(ServeConfig(engine=engine, model=model), ENGINES[engine])


def _admin_routes(routes: Sequence[BaseRoute], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every route an app serves under /admin/, mounted apps included."""
    found: list[tuple[str, str]] = []
    for route in routes:
        path = prefix + str(getattr(route, "path", ""))
        if isinstance(route, Mount):
            found += _admin_routes(route.routes, path)
        elif isinstance(route, Route) and path.startswith(ADMIN_PREFIX):
            found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
        else:  # a WebSocket route or an unknown kind under /admin/ would go untested
            assert not path.startswith(ADMIN_PREFIX), f"untested admin route {route!r}"
    return found


def _engine_admin_routes() -> list[tuple[str, str]]:
    return _admin_routes(_engine_app().router.routes)  # type: ignore[attr-defined]


def _middleware_admin_routes() -> list[tuple[str, str]]:
    mw = ProductionMiddleware(_engine_app(), settings=SETTINGS, registry=CollectorRegistry())
    return [("POST", path) for path in sorted(mw._admin)]


ENGINE_ROUTES = _engine_admin_routes()
ALL_ROUTES = _middleware_admin_routes() + ENGINE_ROUTES


def test_discovery_finds_every_known_admin_route() -> None:
    assert {path for _, path in ALL_ROUTES} == ADMIN_PATHS | {SIM_FAULTS_PATH}
    assert all(route_label(path) == path for _, path in ALL_ROUTES)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_engine_serves_only_the_admin_routes_tested_here(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """The routes above come from the simulated engine; no other engine may add its own."""
    model = str(request.getfixturevalue("tiny_model")) if engine == "reference" else "m"
    app = _engine_app(engine, model)
    assert set(_admin_routes(app.router.routes)) <= set(ENGINE_ROUTES)  # type: ignore[attr-defined]


@contextmanager
def _client(app: ASGIApp, host: str = "127.0.0.1") -> Iterator[TestClient]:
    with TestClient(app, client=(host, 4321), raise_server_exceptions=False) as client:
        yield client


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    # quiet=0: a drain that is let through returns at once (nothing is in flight).
    url = f"{path}?quiet=0" if path == "/admin/drain" else path
    kwargs = {"json": {}} if method == "POST" and path == SIM_FAULTS_PATH else {}
    return client.request(method, url, headers=headers, **kwargs).status_code


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_through_the_middleware(method: str, path: str) -> None:
    registry = CollectorRegistry()
    app = ProductionMiddleware(_engine_app(), settings=SETTINGS, registry=registry)
    with _client(app, host="10.1.2.3") as remote:
        assert _call(remote, method, path, INSIDE) == 403
    with _client(app) as local:
        proxied = {**INSIDE, "x-forwarded-for": "10.1.2.3"}
        assert _call(local, method, path, proxied) == 403
        assert _call(local, method, path, {**INSIDE, "forwarded": "for=10.1.2.3"}) == 403
        no_token = {"authorization": INSIDE["authorization"]}
        assert _call(local, method, path, no_token) == 403
        wrong = {**INSIDE, ADMIN_TOKEN_HEADER.decode(): "guess"}
        assert _call(local, method, path, wrong) == 403
        no_key = {ADMIN_TOKEN_HEADER.decode(): TOKEN}
        assert _call(local, method, path, no_key) == 401
        assert _call(local, method, path, INSIDE) == 200
    forbidden = registry.get_sample_value("vllm_deploy_rejections_total", {"reason": "forbidden"})
    assert forbidden == 5


@pytest.mark.parametrize(("method", "path"), ENGINE_ROUTES)
def test_on_a_bare_engine(method: str, path: str) -> None:
    app = AdminGate(_engine_app(), MiddlewareSettings(admin_token=TOKEN))
    token = {ADMIN_TOKEN_HEADER.decode(): TOKEN}
    with _client(app, host="10.1.2.3") as remote:
        assert _call(remote, method, path, token) == 403
    with _client(app) as local:
        assert _call(local, method, path, {**token, "x-real-ip": "10.1.2.3"}) == 403
        assert _call(local, method, path, {}) == 403
        assert _call(local, method, path, token) == 200
        assert local.get("/v1/models").status_code == 200  # nothing else is gated


def test_an_admin_path_below_the_root_path_is_gated_too() -> None:
    app = ProductionMiddleware(_engine_app(), settings=SETTINGS, registry=CollectorRegistry())
    with TestClient(app, client=("10.1.2.3", 1), root_path="/api") as remote:
        assert remote.get(f"/api{SIM_FAULTS_PATH}", headers=INSIDE).status_code == 403
