"""Small ASGI helpers shared by the middleware's own routes."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from starlette.types import Scope, Send

from vllm_deploy.contract import error_body

__all__ = ["header", "is_loopback", "send_error", "send_json"]


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


def is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_error(
    send: Send,
    status: int,
    message: str,
    err_type: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An error in OpenAI's shape, as vLLM answers them."""
    await send_json(send, status, error_body(message, err_type, status), headers)
