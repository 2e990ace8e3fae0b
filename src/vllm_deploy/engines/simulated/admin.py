"""Loopback-only routes that change the simulator's faults at run time.

``GET /admin/sim/faults`` shows them; ``POST /admin/sim/faults`` with any of
``{"error_rate": 0.5, "hang": true, "slowdown": 3.0}`` changes them and returns the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vllm_deploy.engines.errors import OpenAIError, from_validation_error
from vllm_deploy.engines.http_io import read_json
from vllm_deploy.runtime.asgi import is_loopback
from vllm_deploy.serve_config import FaultSettings

if TYPE_CHECKING:
    from vllm_deploy.engines.simulated.engine import SimulatedEngine

__all__ = ["fault_routes"]


def fault_routes(engine: SimulatedEngine) -> list[BaseRoute]:
    async def faults(request: Request) -> Response:
        if not is_loopback(request.scope):
            return OpenAIError(403, "admin routes are served to loopback clients only").response()
        if request.method == "POST":
            changes: dict[str, Any] = await read_json(request, 64 * 1024)
            try:
                engine.set_faults(
                    FaultSettings.model_validate({**engine.faults.model_dump(), **changes})
                )
            except ValidationError as exc:
                return from_validation_error(exc, prefix=()).response()
        return JSONResponse(engine.faults.model_dump())

    return [Route("/admin/sim/faults", faults, methods=["GET", "POST"])]
