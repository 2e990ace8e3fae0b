"""The local cluster's own API, beside Kubernetes': signal a container, run a command in a
pod (a stand-in for ``kubectl exec``, which needs a streaming protocol the local API server
does not speak). Rehearsals use it to kill a pod's process and to reach loopback-only
routes inside a pod.

- ``POST /local/v1/namespaces/{ns}/pods/{pod}/signal`` ``{"container", "signal": "KILL"}``
- ``POST /local/v1/namespaces/{ns}/pods/{pod}/exec`` ``{"container", "command": [...],
  "timeoutSeconds": 10}`` -> ``{"exitCode", "output"}``
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vllm_deploy.local.errors import ApiError

if TYPE_CHECKING:
    from vllm_deploy.local.kubelet.kubelet import Kubelet

__all__ = ["admin_routes"]


def admin_routes(kubelet: Kubelet) -> list[BaseRoute]:
    async def body(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise ApiError.bad_request("the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ApiError.bad_request("the body must be a JSON object")
        return data

    async def send_signal(request: Request) -> Response:
        ns, pod = request.path_params["ns"], request.path_params["pod"]
        try:
            data = await body(request)
            name = str(data.get("signal", "TERM")).upper().removeprefix("SIG")
            sig = getattr(signal, f"SIG{name}", None)
            if not isinstance(sig, signal.Signals):
                raise ApiError.bad_request(
                    f"signal has value {data.get('signal')!r}: not a signal name"
                )
            pid = kubelet.signal(ns, pod, data.get("container"), sig)
        except ApiError as err:
            return JSONResponse(err.status(), err.code)
        return JSONResponse({"pid": pid, "signal": sig.name})

    async def run(request: Request) -> Response:
        ns, pod = request.path_params["ns"], request.path_params["pod"]
        try:
            data = await body(request)
            command = data.get("command")
            if (
                not isinstance(command, list)
                or not command
                or not all(isinstance(c, str) for c in command)
            ):
                raise ApiError.bad_request("command must be a non-empty list of strings")
            code, output = await kubelet.exec(
                ns, pod, data.get("container"), command, float(data.get("timeoutSeconds", 10))
            )
        except ApiError as err:
            return JSONResponse(err.status(), err.code)
        return JSONResponse({"exitCode": code, "output": output})

    prefix = "/local/v1/namespaces/{ns}/pods/{pod}"
    return [
        Route(f"{prefix}/signal", send_signal, methods=["POST"]),
        Route(f"{prefix}/exec", run, methods=["POST"]),
    ]
