"""Who may in: admin routes only from the pod itself, API keys, the in-flight limit."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from vllm_deploy.contract import ADMIN_TOKEN_HEADER, is_admin_path
from vllm_deploy.runtime.asgi import header, is_loopback, send_error
from vllm_deploy.runtime.auth import ApiKeys, token_matches
from vllm_deploy.runtime.settings import MiddlewareSettings

__all__ = ["AdminGate", "Gate", "Refusal", "admin_scope"]
# Headers a proxy adds: a request carrying one came through a proxy, even from 127.0.0.x.
_PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-envoy-external-address", b"x-real-ip")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: status, OpenAI error type, and the metric's reason."""

    status: int
    message: str
    err_type: str
    reason: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


def admin_scope(scope: Scope) -> bool:
    """An admin request: its path, or its path below the app's ``root_path``, is under /admin/."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return is_admin_path(path) or (
        bool(root) and path.startswith(root) and is_admin_path(path[len(root) :])
    )


class Gate:
    """Usage: ``refusal = gate.check(scope, in_flight)``; None means admitted.

    Every ``/admin/`` path passes ``from_inside`` first, whoever serves it (the middleware's
    drain, an engine's fault injection); then the API key; then the in-flight limit, which
    admin requests are exempt from (a drain must never be refused for being busy).
    """

    def __init__(self, settings: MiddlewareSettings, keys: ApiKeys) -> None:
        self._settings = settings
        self._keys = keys

    def check(self, scope: Scope, in_flight: int) -> Refusal | None:
        return self.check_request(scope, in_flight, header(scope, b"authorization"))

    def check_request(
        self, scope: Scope, in_flight: int, authorization: bytes | None, admin: bool | None = None
    ) -> Refusal | None:
        """``check``, with the Authorization header (and whether the path is an admin one)
        already known: the middleware's hot path."""
        admin = admin_scope(scope) if admin is None else admin
        if admin and not self.from_inside(scope):
            return Refusal(
                403,
                f"{scope['path']} is served to the pod itself only (loopback, no proxy, "
                "admin token when set)",
                "PermissionDeniedError",
                "forbidden",
            )
        if not self._keys.allows(authorization):
            return Refusal(
                401,
                "Invalid or missing API key (send 'Authorization: Bearer <key>').",
                "AuthenticationError",
                "unauthorized",
                ((b"www-authenticate", b"Bearer"),),
            )
        limit = self._settings.max_inflight
        if limit and in_flight >= limit and not admin:
            retry = str(self._settings.retry_after_s)
            return Refusal(
                429,
                f"Too many requests in flight on this replica ({limit}); retry after {retry} s.",
                "RateLimitError",
                "max_inflight",
                ((b"retry-after", retry.encode()),),
            )
        return None

    def from_inside(self, scope: Scope) -> bool:
        """Loopback client, no proxy header, and the admin token when one is set."""
        if not is_loopback(scope) or any(header(scope, h) is not None for h in _PROXY_HEADERS):
            return False
        token = self._settings.admin_token
        return not token or token_matches(header(scope, ADMIN_TOKEN_HEADER), token)


class AdminGate:
    """The gate's admin check alone, for an engine served without the middleware.

    Usage: ``AdminGate(engine_app, settings)`` (``serve --no-middleware``): ``/admin/`` paths
    from anywhere but the pod itself get 403, as through ProductionMiddleware; everything
    else passes untouched.
    """

    def __init__(self, app: ASGIApp, settings: MiddlewareSettings) -> None:
        self.app = app
        self._gate = Gate(settings, ApiKeys([]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and admin_scope(scope):
            refusal = self._gate.check(scope, 0)
            if refusal is not None:
                if scope["type"] == "websocket":
                    await receive()
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await send_error(send, refusal.status, refusal.message, refusal.err_type)
                return
        await self.app(scope, receive, send)
