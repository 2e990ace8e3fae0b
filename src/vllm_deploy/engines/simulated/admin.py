"""The simulator's fault injection at run time: ``/admin/sim/faults``.

``GET`` shows the faults; ``POST`` with any of ``{"error_rate": 0.5, "hang": true,
"slowdown": 3.0}`` changes them and returns the result. Like every ``/admin/`` path it is
served to the pod itself only: the runtime's gate checks that before the request gets here
(ProductionMiddleware, or ``AdminGate`` with ``serve --no-middleware``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vllm_deploy.contract import SIM_FAULTS_PATH
from vllm_deploy.engines.errors import from_validation_error
from vllm_deploy.engines.http_io import read_json
from vllm_deploy.serve_config import FaultSettings

__all__ = ["fault_routes"]


def fault_routes(
    current: Callable[[], FaultSettings], apply: Callable[[FaultSettings], None]
) -> list[BaseRoute]:
    """Usage: ``fault_routes(lambda: engine.faults, engine.set_faults)``."""

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            changes: dict[str, Any] = await read_json(request, 64 * 1024)
            try:
                apply(FaultSettings.model_validate({**current().model_dump(), **changes}))
            except ValidationError as exc:
                return from_validation_error(exc, prefix=()).response()
        return JSONResponse(current().model_dump())

    return [Route(SIM_FAULTS_PATH, faults, methods=["GET", "POST"])]
