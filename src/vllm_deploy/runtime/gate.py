"""Who may in: admin routes only from the pod itself, API keys, the in-flight limit."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from vllm_deploy.contract import ADMIN_PATHS, ADMIN_TOKEN_HEADER
from vllm_deploy.runtime.asgi import header, is_loopback
from vllm_deploy.runtime.auth import ApiKeys, token_matches
from vllm_deploy.runtime.settings import MiddlewareSettings

__all__ = ["Gate", "Refusal"]
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


class Gate:
    """Usage: ``refusal = gate.check(scope, in_flight)``; None means admitted."""

    def __init__(self, settings: MiddlewareSettings, keys: ApiKeys) -> None:
        self._settings = settings
        self._keys = keys

    def check(self, scope: Scope, in_flight: int) -> Refusal | None:
        admin = scope["path"] in ADMIN_PATHS
        if admin and not self._from_inside(scope):
            return Refusal(403, f"{scope['path']} is served to the pod itself only (loopback, "
                           "no proxy, admin token when set)", "PermissionDeniedError", "forbidden")  # fmt: skip
        if not self._keys.allows(header(scope, b"authorization")):
            return Refusal(401, "Invalid or missing API key (send 'Authorization: Bearer <key>').",
                           "AuthenticationError", "unauthorized", ((b"www-authenticate", b"Bearer"),))  # fmt: skip
        limit = self._settings.max_inflight
        if limit and in_flight >= limit and not admin:
            retry = str(self._settings.retry_after_s)
            return Refusal(429, f"Too many requests in flight on this replica ({limit}); retry after {retry} s.",
                           "RateLimitError", "max_inflight", ((b"retry-after", retry.encode()),))  # fmt: skip
        return None

    def _from_inside(self, scope: Scope) -> bool:
        if not is_loopback(scope) or any(header(scope, h) is not None for h in _PROXY_HEADERS):
            return False
        token = self._settings.admin_token
        return not token or token_matches(header(scope, ADMIN_TOKEN_HEADER), token)
