"""What a cluster serves beside the core API, for the clients our tools are: the Service proxy
subresource, and the custom and external metrics APIs that prometheus-adapter and KEDA add.

- ``/api/v1/namespaces/<ns>/services/[<scheme>:]<name>[:<port>]/proxy/<path>``: as the API
  server's service REST storage resolves it (pkg/registry/core/service/storage/rest.go
  ``ResourceLocation``: the port by name or number, one of the ready addresses of the
  Endpoints' matching port at random, 503 "no endpoints available for service" when there is
  none), then proxied (method, headers, body, streamed answer).
- ``custom.metrics.k8s.io`` (v1beta1, v1beta2) and ``external.metrics.k8s.io`` (v1beta1):
  the MetricValueList / ExternalMetricValueList shapes of k8s.io/metrics, filled from the
  same source the local HPA controller reads (controllers/metrics_api.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from vllm_deploy.local.controllers.base import KINDS
from vllm_deploy.local.controllers.metrics_api import MetricsApi, MetricUnavailable
from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.selectors import label_selector
from vllm_deploy.local.store import Obj, Store, rfc3339

__all__ = ["METRICS_GROUPS", "aggregated_routes", "metrics_resource_list"]

# group -> versions, preferred first (prometheus-adapter serves v1beta2 and v1beta1).
METRICS_GROUPS: dict[str, list[str]] = {
    "custom.metrics.k8s.io": ["v1beta2", "v1beta1"],
    "external.metrics.k8s.io": ["v1beta1"],
}
# Not passed on: hop-by-hop headers, and Authorization, which kube-apiserver's authentication
# filter removes once it has authenticated the request (k8s.io/apiserver
# pkg/endpoints/filters/authentication.go), so a pod never sees the caller's credentials.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "authorization",
    }
)


def _status_error(err: ApiError) -> Response:
    return JSONResponse(err.status(), status_code=err.code)


def _split_scheme_name_port(ident: str) -> tuple[str, str, str]:
    """utilnet.SplitSchemeNamePort: ``name``, ``name:port``, ``scheme:name:port``."""
    parts = ident.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3 and parts[0] in ("http", "https"):
        return parts[0], parts[1], parts[2]
    raise ApiError.bad_request(f"invalid service request {ident!r}")


def _locate(store: Store, namespace: str, ident: str) -> tuple[str, str, int]:
    """(scheme, address, port) of one ready endpoint of the Service."""
    scheme, name, port_ref = _split_scheme_name_port(ident)
    svc = store.peek(KINDS["Service"], namespace, name)
    if svc is None:
        raise ApiError.not_found(KINDS["Service"], name)
    ports = svc["spec"].get("ports") or []
    port = next(
        (
            p
            for p in ports
            if not port_ref or p.get("name") == port_ref or str(p.get("port")) == port_ref
        ),
        None,
    )
    if port is None:
        raise ApiError(
            503, "ServiceUnavailable", f'no service port {port_ref!r} found for service "{name}"'
        )
    endpoints = store.peek(KINDS["Endpoints"], namespace, name) or {}
    choices = [
        (address["ip"], int(ep_port["port"]))
        for subset in endpoints.get("subsets") or []
        for ep_port in subset.get("ports") or []
        if ep_port.get("name", "") == port.get("name", "")
        for address in subset.get("addresses") or []
    ]
    if not choices:
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
    ip, target = random.choice(choices)
    return scheme or "http", ip, target


def _service_proxy(store: Store, client: httpx.AsyncClient) -> Route:
    async def proxy(request: Request) -> Response:
        params = request.path_params
        try:
            scheme, ip, port = _locate(store, params["namespace"], params["service"])
        except ApiError as err:
            return _status_error(err)
        url = f"{scheme}://{ip}:{port}/{params.get('path', '')}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = client.build_request(
            request.method,
            url,
            params=request.query_params,
            headers=headers,
            content=await request.body(),
        )
        try:
            answer = await client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            unreachable = ApiError(
                503, "ServiceUnavailable", f"error trying to reach service: {exc}"
            )
            return _status_error(unreachable)

        async def body() -> AsyncIterator[bytes]:
            async for chunk in answer.aiter_raw():
                yield chunk

        out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        return StreamingResponse(
            body(),
            status_code=answer.status_code,
            headers=out_headers,
            background=BackgroundTask(answer.aclose),
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Route(
        "/api/v1/namespaces/{namespace}/services/{service}/proxy/{path:path}",
        proxy,
        methods=methods,
    )


def metrics_resource_list(metrics: MetricsApi, group: str, version: str) -> dict[str, Any] | None:
    """The APIResourceList of a metrics group-version: what the adapter rules expose."""
    if version not in METRICS_GROUPS.get(group, []):
        return None
    resources: list[dict[str, Any]] = []
    if group == "custom.metrics.k8s.io":
        for name in sorted(metrics.pod_metric_names()):
            resources.append(
                {
                    "name": f"pods/{name}",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "MetricValueList",
                    "verbs": ["get"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}",
        "resources": resources,
    }


def _metric_routes(store: Store, metrics: MetricsApi) -> list[Route]:
    async def custom(request: Request) -> Response:
        p = request.path_params
        ns, pod, metric, version = p["namespace"], p["pod"], p["metric"], p["version"]
        if version not in METRICS_GROUPS["custom.metrics.k8s.io"]:
            return _status_error(
                ApiError(404, "NotFound", "the server could not find the requested resource")
            )
        try:
            selector = label_selector(request.query_params.get("labelSelector") or None)
        except ApiError as err:
            return _status_error(err)
        pods = [
            o
            for o in store.items(KINDS["Pod"], ns)
            if (pod == "*" or o["metadata"]["name"] == pod)
            and selector(o["metadata"].get("labels") or {})
        ]
        try:
            values = await metrics.pod_values(ns, metric, [o["metadata"]["name"] for o in pods])
        except MetricUnavailable as exc:
            return _status_error(ApiError(404, "NotFound", str(exc)))
        now = rfc3339(time.time())
        items = [
            _metric_value(version, ns, name, metric, value, now)
            for name, value in sorted(values.items())
        ]
        if pod != "*" and not items:
            return _status_error(
                ApiError(
                    404,
                    "NotFound",
                    f'the server could not find the metric {metric} for pods "{pod}"',
                )
            )
        return JSONResponse(
            {
                "kind": "MetricValueList",
                "apiVersion": f"custom.metrics.k8s.io/{version}",
                "metadata": {},
                "items": items,
            }
        )

    async def external(request: Request) -> Response:
        p = request.path_params
        try:
            selector = dict(
                term.split("=", 1)
                for term in request.query_params.get("labelSelector", "").split(",")
                if "=" in term
            )
            values = await metrics.external_values(p["namespace"], p["metric"], selector)
        except MetricUnavailable as exc:
            return _status_error(ApiError(404, "NotFound", str(exc)))
        now = rfc3339(time.time())
        items = [
            {"metricName": p["metric"], "metricLabels": {}, "timestamp": now, "value": _quantity(v)}
            for v in values
        ]
        return JSONResponse(
            {
                "kind": "ExternalMetricValueList",
                "apiVersion": "external.metrics.k8s.io/v1beta1",
                "metadata": {},
                "items": items,
            }
        )

    return [
        Route(
            "/apis/custom.metrics.k8s.io/{version}/namespaces/{namespace}/pods/{pod}/{metric}",
            custom,
        ),
        Route("/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}", external),
    ]


def _quantity(value: float) -> str:
    """A resource.Quantity as the adapter writes it: milli-units when not whole."""
    return str(int(value)) if value == int(value) else f"{round(value * 1000)}m"


def _metric_value(version: str, ns: str, pod: str, metric: str, value: float, now: str) -> Obj:
    described = {"kind": "Pod", "namespace": ns, "name": pod, "apiVersion": "/v1"}
    if version == "v1beta1":
        return {
            "describedObject": described,
            "metricName": metric,
            "timestamp": now,
            "value": _quantity(value),
        }
    return {
        "describedObject": described,
        "metric": {"name": metric},
        "timestamp": now,
        "value": _quantity(value),
    }


def aggregated_routes(store: Store, metrics: MetricsApi) -> list[BaseRoute]:
    """The routes, ahead of the core API's catch-all ones."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0))
    return [_service_proxy(store, client), *_metric_routes(store, metrics)]
