"""The local API server's HTTP layer: Kubernetes' REST paths over the store.

Paths (k8s.io/apiserver pkg/endpoints/installer.go): ``/api/v1/...`` for the core group,
``/apis/<group>/<version>/...`` for the others; ``[namespaces/<ns>/]<plural>[/<name>[/<sub>]]``.
Lists and watches take ``labelSelector``, ``fieldSelector`` and ``resourceVersion``; a watch
(``?watch=true``) streams newline-delimited ``{"type", "object"}`` events until
``timeoutSeconds``. Errors are ``Status`` objects. No authentication: it listens on loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from vllm_deploy.local.api import discovery
from vllm_deploy.local.api.verbs import Verbs, WriteOptions
from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.resources import ResourceType, by_path
from vllm_deploy.local.selectors import field_selector, label_selector
from vllm_deploy.local.store import Obj, Store

__all__ = ["Evictor", "LogReader", "build_api"]

# (namespace, pod, container, tail_lines, previous) -> the log text.
LogReader = Callable[[str, str, str | None, int | None, bool], str]
# (namespace, pod, dry_run) -> None, or raises ApiError (429 when a budget forbids it).
Evictor = Callable[[str, str, bool], None]
_WATCH_TIMEOUT_S = 1800  # the API server's --min-request-timeout


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


class _Target:
    """What a resource path names."""

    def __init__(
        self, rt: ResourceType, namespace: str | None, name: str | None, sub: str | None
    ) -> None:
        self.rt, self.namespace, self.name, self.sub = rt, namespace, name, sub


def _target(group: str, version: str, parts: list[str]) -> _Target:
    namespace: str | None = None
    # namespaces/<ns>/<plural>... is namespaced; namespaces/<ns>[/status] is the Namespace.
    if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] not in ("status", "finalize"):
        namespace, parts = parts[1], parts[2:]
    if not parts or len(parts) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    rt = by_path(group, version, parts[0])
    if rt is None:
        raise ApiError(
            404, "NotFound", f"the server could not find the requested resource ({parts[0]})"
        )
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if sub is not None and sub not in rt.subresources:
        raise ApiError(404, "NotFound", f"{rt.plural}/{sub} is not served")
    if rt.namespaced and namespace is None and name is not None:
        raise ApiError(404, "NotFound", f"{rt.plural} is namespaced: name a namespace")
    return _Target(rt, namespace if rt.namespaced else None, name, sub)


class ApiServer:
    """Usage: ``build_api(store, address, logs, evict)`` → a Starlette app."""

    def __init__(self, store: Store, address: str, logs: LogReader, evict: Evictor) -> None:
        self.store, self.address = store, address
        self.verbs = Verbs(store)
        self._logs, self._evict = logs, evict

    async def resource(self, request: Request) -> Response:
        path = request.url.path.strip("/").split("/")
        if path[0] == "api":
            group, version, parts = "", path[1] if len(path) > 1 else "", path[2:]
        else:
            group, version, parts = (
                (path[1] if len(path) > 1 else ""),
                (path[2] if len(path) > 2 else ""),
                path[3:],
            )
        try:
            if not parts:
                doc = discovery.resource_list(group, version)
                if doc is None:
                    raise ApiError(
                        404, "NotFound", "the server could not find the requested resource"
                    )
                return _json(doc)
            target = _target(group, version, parts)
            return await self._dispatch(request, target)
        except ApiError as err:
            return _json(err.status(), err.code)

    async def _dispatch(self, request: Request, t: _Target) -> Response:
        method, params = request.method, request.query_params
        ns = t.namespace or ""
        if t.name is None:
            if method == "GET":
                if params.get("watch") in ("true", "1"):
                    return self._watch(request, t)
                return self._list(t, params)
            if method == "POST":
                opts = WriteOptions(params, request.headers.get("user-agent", ""))
                obj = self.verbs.create(t.rt, ns, await self._body(request), opts)
                return _json(obj, 201)
            if method == "DELETE":
                return self._delete_collection(t, params)
            raise ApiError.method_not_allowed(f"{method} is not supported on a collection")
        handler = _OBJECT_VERBS.get((method, t.sub))
        if handler is None:
            raise ApiError.method_not_allowed(
                f"{method} is not supported on {t.rt.plural}/{t.sub or ''}"
            )
        return await handler(self, request, t)

    @staticmethod
    async def _body(request: Request) -> Any:
        content_type = request.headers.get("content-type", "application/json")
        if "protobuf" in content_type or "cbor" in content_type:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"{content_type} is not supported: send application/json",
            )
        raw = await request.body()
        try:
            return yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw or b"{}")
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError.bad_request(f"the request body could not be decoded: {exc}") from None

    def _matcher(self, params: Any) -> Callable[[Obj], bool]:
        labels = label_selector(params.get("labelSelector"))
        fields = field_selector(params.get("fieldSelector"))
        return lambda o: labels(o["metadata"].get("labels") or {}) and fields(o)

    def _list(self, t: _Target, params: Any) -> Response:
        items, rv = self.store.list(t.rt, t.namespace, self._matcher(params))
        for item in items:  # as the API server returns typed lists
            item.pop("apiVersion", None)
            item.pop("kind", None)
        return _json(
            {
                "kind": f"{t.rt.kind}List",
                "apiVersion": t.rt.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        )

    def _watch(self, request: Request, t: _Target) -> Response:
        params = request.query_params
        try:
            watch = self.store.watch(
                t.rt, t.namespace, self._matcher(params), params.get("resourceVersion")
            )
        except ApiError as err:
            if err.code != 410:
                raise
            # A parsed but expired resourceVersion fails as a watch event of type ERROR, not
            # as a response status (k8s.io/apiserver pkg/storage/cacher Cacher.Watch,
            # newErrWatcher), so that clients relist.
            line = self._line("ERROR", err.status())
            return StreamingResponse(iter([line]), media_type="application/json")
        timeout = float(params.get("timeoutSeconds") or _WATCH_TIMEOUT_S)
        initial_end = params.get("sendInitialEvents") == "true"

        async def stream() -> AsyncIterator[bytes]:
            try:
                if initial_end:  # WatchList: the synthetic ADDED events end with a bookmark
                    while not watch.queue.empty():
                        yield self._line(*watch.queue.get_nowait())  # type: ignore[misc]
                    yield self._line(
                        "BOOKMARK",
                        {
                            "kind": t.rt.kind,
                            "apiVersion": t.rt.api_version,
                            "metadata": {
                                "resourceVersion": str(self.store.resource_version),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        },
                    )
                deadline = asyncio.get_running_loop().time() + timeout
                while True:
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        return
                    try:
                        async with asyncio.timeout(min(left, 5.0)):
                            item = await watch.queue.get()
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        continue
                    if item is None:
                        return
                    yield self._line(*item)
            finally:
                self.store.stop(watch)

        return StreamingResponse(stream(), media_type="application/json")

    @staticmethod
    def _line(kind: str, obj: Obj) -> bytes:
        return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def _delete_collection(self, t: _Target, params: Any) -> Response:
        items, _ = self.store.list(t.rt, t.namespace, self._matcher(params))
        dry_run = params.get("dryRun") == "All"
        for item in items:
            meta = item["metadata"]
            self.verbs.delete(t.rt, meta.get("namespace", ""), meta["name"], {}, dry_run)
        return self._list(t, params)

    # -- object verbs -----------------------------------------------------------------------

    async def _get(self, request: Request, t: _Target) -> Response:
        return _json(self.store.get(t.rt, t.namespace or "", t.name or ""))

    async def _put(self, request: Request, t: _Target) -> Response:
        opts = WriteOptions(request.query_params, request.headers.get("user-agent", ""))
        body = await self._body(request)
        return _json(self.verbs.update(t.rt, t.namespace or "", t.name or "", body, opts, t.sub))

    async def _patch(self, request: Request, t: _Target) -> Response:
        opts = WriteOptions(request.query_params, request.headers.get("user-agent", ""))
        obj, created = self.verbs.patch(
            t.rt,
            t.namespace or "",
            t.name or "",
            await request.body(),
            request.headers.get("content-type", ""),
            opts,
            t.sub,
        )
        return _json(obj, 201 if created else 200)

    async def _delete(self, request: Request, t: _Target) -> Response:
        options: dict[str, Any] = dict(await self._body(request) or {})
        params = request.query_params
        if "propagationPolicy" in params:
            options["propagationPolicy"] = params["propagationPolicy"]
        if "gracePeriodSeconds" in params:
            options["gracePeriodSeconds"] = int(params["gracePeriodSeconds"])
        dry_run = params.get("dryRun") == "All" or options.get("dryRun") == ["All"]
        obj = self.verbs.delete(t.rt, t.namespace or "", t.name or "", options, dry_run)
        if t.rt.kind == "Pod" or obj["metadata"].get("deletionTimestamp"):
            return _json(obj)
        return _json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": t.name,
                    "group": t.rt.group,
                    "kind": t.rt.plural,
                    "uid": obj["metadata"].get("uid"),
                },
            }
        )

    async def _get_scale(self, request: Request, t: _Target) -> Response:
        return _json(self.verbs.scale(t.rt, t.namespace or "", t.name or ""))

    async def _put_scale(self, request: Request, t: _Target) -> Response:
        opts = WriteOptions(request.query_params, request.headers.get("user-agent", ""))
        return _json(
            self.verbs.set_scale(
                t.rt, t.namespace or "", t.name or "", await self._body(request), opts
            )
        )

    async def _patch_scale(self, request: Request, t: _Target) -> Response:
        opts = WriteOptions(request.query_params, request.headers.get("user-agent", ""))
        return _json(
            self.verbs.patch_scale(
                t.rt,
                t.namespace or "",
                t.name or "",
                await request.body(),
                request.headers.get("content-type", ""),
                opts,
            )
        )

    async def _log(self, request: Request, t: _Target) -> Response:
        self.store.get(t.rt, t.namespace or "", t.name or "")  # 404 for a missing pod
        params = request.query_params
        tail = int(params["tailLines"]) if "tailLines" in params else None
        text = self._logs(
            t.namespace or "",
            t.name or "",
            params.get("container"),
            tail,
            params.get("previous") == "true",
        )
        return PlainTextResponse(text)

    async def _eviction(self, request: Request, t: _Target) -> Response:
        body = await self._body(request)
        dry_run = request.query_params.get("dryRun") == "All" or (
            body.get("deleteOptions") or {}
        ).get("dryRun") == ["All"]
        self._evict(t.namespace or "", t.name or "", dry_run)
        return _json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "code": 201,
            },
            201,
        )


_Handler = Callable[[ApiServer, Request, _Target], Awaitable[Response]]
# Aggregated API groups: (group -> versions, (group, version) -> APIResourceList or None).
Aggregated = tuple[dict[str, list[str]], Callable[[str, str], dict[str, Any] | None]]

_OBJECT_VERBS: dict[tuple[str, str | None], _Handler] = {
    ("GET", None): ApiServer._get,
    ("PUT", None): ApiServer._put,
    ("PATCH", None): ApiServer._patch,
    ("DELETE", None): ApiServer._delete,
    ("GET", "status"): ApiServer._get,
    ("PUT", "status"): ApiServer._put,
    ("PATCH", "status"): ApiServer._patch,
    ("GET", "scale"): ApiServer._get_scale,
    ("PUT", "scale"): ApiServer._put_scale,
    ("PATCH", "scale"): ApiServer._patch_scale,
    ("GET", "log"): ApiServer._log,
    ("POST", "eviction"): ApiServer._eviction,
}


def build_api(
    store: Store,
    address: str,
    logs: LogReader,
    evict: Evictor,
    extra: Sequence[BaseRoute] = (),
    aggregated: Aggregated | None = None,
) -> Starlette:
    """The API server's app; ``extra`` routes are the stand-in's own (``/local/...``) or
    served ahead of the core API (the Service proxy); ``aggregated`` adds API groups served
    by others (the metrics APIs): their versions and each one's resource list."""
    server = ApiServer(store, address, logs, evict)
    groups, resource_list = aggregated or ({}, lambda group, version: None)

    async def version(_: Request) -> Response:
        return _json(discovery.version())

    async def api(_: Request) -> Response:
        return _json(discovery.api_versions(address))

    async def apis(_: Request) -> Response:
        return _json(discovery.api_groups(groups))

    async def group_version(request: Request) -> Response:
        doc = resource_list(request.path_params["group"], request.path_params["version"])
        if doc is None:
            return await server.resource(request)
        return _json(doc)

    async def healthy(_: Request) -> Response:
        return PlainTextResponse("ok")

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/version", version),
            # The official clients ask for /api/ and /apis/ (CoreApi, ApisApi get_api_versions).
            Route("/api", api),
            Route("/api/", api),
            Route("/apis", apis),
            Route("/apis/", apis),
            Route("/healthz", healthy),
            Route("/readyz", healthy),
            Route("/livez", healthy),
            *extra,
            Route("/apis/{group}/{version}", group_version, methods=methods),
            Route("/api/{rest:path}", server.resource, methods=methods),
            Route("/apis/{rest:path}", server.resource, methods=methods),
        ]
    )
