"""`vllm-deploy drain`: asks the local pod to drain; the preStop hook runs it."""

from __future__ import annotations

import httpx

from vllm_deploy.contract import ADMIN_TOKEN_HEADER
from vllm_deploy.runtime.auth import configured_keys
from vllm_deploy.runtime.settings import load_settings

__all__ = ["DrainFailed", "drain"]


class DrainFailed(RuntimeError):
    """The drain did not finish cleanly (deadline reached, or the server did not answer)."""


def drain(
    host: str, port: int, timeout_s: float | None, quiet_s: float | None
) -> dict[str, object]:
    """POSTs /admin/drain and returns its JSON result; raises DrainFailed unless drained.

    Defaults and the API key come from the same ``VLLMDEPLOY_*`` variables as the server's,
    since the preStop hook runs in the server's container.
    """
    settings = load_settings()
    timeout_s = settings.drain_timeout_s if timeout_s is None else timeout_s
    params: dict[str, float] = {"timeout": timeout_s}
    if quiet_s is not None:
        params["quiet"] = quiet_s
    headers = {}
    keys = configured_keys(settings)
    if keys:
        headers["authorization"] = f"Bearer {keys[0]}"
    if settings.admin_token:
        headers[ADMIN_TOKEN_HEADER.decode()] = settings.admin_token
    try:
        resp = httpx.post(
            f"http://{host}:{port}/admin/drain",
            params=params,
            headers=headers,
            timeout=timeout_s + 10,
        )
    except httpx.HTTPError as exc:
        raise DrainFailed(f"drain request to {host}:{port} failed: {exc}") from None
    if resp.status_code != 200:
        raise DrainFailed(f"drain refused with {resp.status_code}: {resp.text[:200]}")
    result: dict[str, object] = resp.json()
    if not result.get("drained"):
        reason = str(result.get("reason"))
        why = _NOT_DRAINED.get(reason, f"ended ({reason})")
        raise DrainFailed(f"drain {why} with {result.get('in_flight')} requests in flight")
    return result


# How a drain that did not go quiet ended (the server's ``reason``), for the one error line.
_NOT_DRAINED = {
    "deadline": "hit its deadline",
    "stalled": "ended early: the engine is stalled (liveness restarts the pod)",
    "cancelled": "was cancelled by POST /admin/undrain",
}
