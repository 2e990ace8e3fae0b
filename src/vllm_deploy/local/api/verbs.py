"""The API verbs on stored objects: create, update, patch (four kinds), delete, scale.

Each write is admitted (defaults, validation), records field ownership, and is stored
atomically (no await between read and write, on one event loop). ``dryRun=All`` runs the
same path without storing. Deletion follows the API server's propagation policies
(k8s.io/apimachinery metav1.DeletionPropagation): Background (the garbage collector removes
dependents later), Foreground (``foregroundDeletion`` finalizer until dependents are gone)
and Orphan (dependents lose their ownerReference first).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml

from vllm_deploy.local.admission import Admission
from vllm_deploy.local.apply import apply_config, record_update
from vllm_deploy.local.errors import ApiError, FieldError
from vllm_deploy.local.patch import PATCHERS
from vllm_deploy.local.resources import RESOURCES, ResourceType
from vllm_deploy.local.store import Obj, Store, rfc3339

__all__ = ["APPLY", "Verbs", "WriteOptions"]

APPLY = "application/apply-patch+yaml"
_NAMESPACES = next(r for r in RESOURCES if r.kind == "Namespace")


class WriteOptions:
    """The query parameters of a write: ``dryRun``, ``fieldManager``, ``force``."""

    def __init__(self, params: Mapping[str, str], user_agent: str) -> None:
        self.dry_run = params.get("dryRun") == "All"
        # The API server's default manager is the User-Agent's product (prefixFromUserAgent).
        self.manager = params.get("fieldManager") or (user_agent.split("/")[0] or "unknown")
        self.explicit_manager = "fieldManager" in params
        force = params.get("force")
        if force not in (None, "true", "false"):
            raise ApiError.bad_request(f"force has value {force!r}: expected true or false")
        self.force = force == "true"
        if len(self.manager) > 128:
            raise ApiError(422, "Invalid", "fieldManager: Too long: may not be more than 128 bytes")


def _parse(body: bytes, content_type: str) -> Any:
    try:
        if "yaml" in content_type:
            return yaml.safe_load(body.decode())
        return json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError.bad_request(f"the request body could not be decoded: {exc}") from None


class Verbs:
    """Usage: ``Verbs(store).create(rt, "ns", body, options)``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._admission = Admission()

    def _now(self) -> str:
        return rfc3339(self.store.now())

    def _require_namespace(self, rt: ResourceType, namespace: str) -> None:
        if rt.namespaced and self.store.peek(_NAMESPACES, "", namespace) is None:
            raise ApiError.not_found(_NAMESPACES, namespace)

    def _check_identity(self, rt: ResourceType, namespace: str, name: str | None, obj: Any) -> Obj:
        if not isinstance(obj, dict):
            raise ApiError.bad_request("the request body must be an object")
        meta = obj.setdefault("metadata", {})
        if name is not None and meta.setdefault("name", name) != name:
            raise ApiError.bad_request(
                f"the name of the object ({meta['name']}) "
                f"does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") not in (None, namespace):
            raise ApiError.bad_request(
                f"the namespace of the object ({meta['namespace']}) "
                f"does not match the namespace on the request ({namespace})"
            )
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if (kind and kind != rt.kind) or (api_version and api_version != rt.api_version):
            raise ApiError.bad_request(
                f"the body is a {api_version} {kind}, not a {rt.api_version} {rt.kind}"
            )
        return obj

    def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> Obj:
        self._require_namespace(rt, namespace)
        obj = self._admission.admit(rt, self._check_identity(rt, namespace, None, body))
        obj.get("metadata", {}).pop("managedFields", None)
        record_update(rt, {}, obj, opts.manager, self._now())
        return self.store.create(rt, namespace, obj, dry_run=opts.dry_run)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        subresource: str | None = None,
    ) -> Obj:
        obj = self._check_identity(rt, namespace, name, body)
        if subresource is None:
            current = self.store.get(rt, namespace, name)
            self._admission.admit(rt, obj)
            obj["metadata"]["managedFields"] = current["metadata"].get("managedFields")
            record_update(rt, current, obj, opts.manager, self._now())
        return self.store.update(rt, namespace, obj, subresource=subresource, dry_run=opts.dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        opts: WriteOptions,
        subresource: str | None = None,
    ) -> tuple[Obj, bool]:
        """The patched object, and whether the patch created it (server-side apply)."""
        media = content_type.split(";")[0].strip()
        if media == APPLY:
            return self._apply(rt, namespace, name, _parse(body, "yaml"), opts, subresource)
        if opts.force:
            raise ApiError(
                422, "Invalid", "force: Forbidden: may not be specified for non-apply patch"
            )
        patcher = PATCHERS.get(media)
        if patcher is None:
            raise ApiError.unsupported_media_type(content_type)
        current = self.store.get(rt, namespace, name)
        patched = patcher(copy.deepcopy(current), _parse(body, "json"))
        if not isinstance(patched, dict):
            raise ApiError.bad_request("the patch does not leave an object")
        patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
            "resourceVersion"
        ]
        return self.update(rt, namespace, name, patched, opts, subresource), False

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        config: Any,
        opts: WriteOptions,
        subresource: str | None,
    ) -> tuple[Obj, bool]:
        if not opts.explicit_manager:
            raise ApiError(
                422, "Invalid", "fieldManager: Required value: is required for apply patch"
            )
        config = self._check_identity(rt, namespace, name, config)
        if not config.get("apiVersion") or not config.get("kind"):
            raise ApiError.bad_request("apply needs the object's apiVersion and kind")
        live = self.store.peek(rt, namespace if rt.namespaced else "", name)
        if live is None:  # apply creates (forceAllowCreate, handlers/patch.go)
            self._require_namespace(rt, namespace)
            merged = apply_config(
                rt, {}, config, opts.manager, opts.force, self._now(), subresource
            )
            merged.setdefault("metadata", {}).update(name=name)
            self._admission.admit(rt, merged)
            return self.store.create(rt, namespace, merged, dry_run=opts.dry_run), True
        live = copy.deepcopy(live)
        merged = apply_config(rt, live, config, opts.manager, opts.force, self._now(), subresource)
        if subresource is None:
            self._admission.admit(rt, merged)
        return self.store.update(
            rt, namespace, merged, subresource=subresource, dry_run=opts.dry_run
        ), False

    # -- delete -------------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: Mapping[str, Any],
        dry_run: bool,
    ) -> Obj:
        """Deletes with ``options`` (DeleteOptions from the body or the query)."""
        current = self.store.get(rt, namespace, name)
        preconditions = options.get("preconditions") or {}
        for field in ("uid", "resourceVersion"):
            if preconditions.get(field) and preconditions[field] != current["metadata"].get(field):
                raise ApiError.conflict(
                    rt,
                    name,
                    f"Precondition failed: {field} in precondition: "
                    f"{preconditions[field]}, {field} in object meta: "
                    f"{current['metadata'].get(field)}",
                )
        policy = options.get("propagationPolicy") or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise ApiError(422, "Invalid", f"propagationPolicy: Unsupported value: {policy!r}")
        grace = options.get("gracePeriodSeconds")
        if not dry_run and policy == "Orphan":
            self._orphan_dependents(current["metadata"]["uid"])
        if (
            not dry_run
            and policy == "Foreground"
            and self._has_dependents(current["metadata"]["uid"])
        ):
            current["metadata"].setdefault("finalizers", []).append("foregroundDeletion")
            self.store.update(rt, namespace, current)
        return self.store.delete(rt, namespace, name, grace_period_s=grace, dry_run=dry_run)

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        return [
            (rt, o)
            for rt in RESOURCES
            for o in self.store.items(rt)
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    def _has_dependents(self, uid: str) -> bool:
        return bool(self._dependents(uid))

    def _orphan_dependents(self, uid: str) -> None:
        for rt, obj in self._dependents(uid):
            obj = copy.deepcopy(obj)
            refs = [r for r in obj["metadata"].pop("ownerReferences") if r.get("uid") != uid]
            if refs:  # an empty list is omitted, as ObjectMeta's omitempty serialises it
                obj["metadata"]["ownerReferences"] = refs
            self.store.update(rt, obj["metadata"].get("namespace", ""), obj)

    # -- scale --------------------------------------------------------------------------------

    def scale(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        """The autoscaling/v1 Scale of a Deployment or ReplicaSet."""
        obj = self.store.get(rt, namespace, name)
        meta = obj["metadata"]
        selector = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {
                "replicas": obj.get("status", {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
            },
        }

    def set_scale(
        self, rt: ResourceType, namespace: str, name: str, scale: Any, opts: WriteOptions
    ) -> Obj:
        if not isinstance(scale, dict) or not isinstance(
            scale.get("spec", {}).get("replicas"), int
        ):
            raise ApiError.invalid(
                rt, name, [FieldError("spec.replicas", "Required value", "FieldValueRequired")]
            )
        obj = self.store.get(rt, namespace, name)
        given = scale.get("metadata", {}).get("resourceVersion")
        if given and given != obj["metadata"]["resourceVersion"]:
            raise ApiError.stale(rt, name)
        current = copy.deepcopy(obj)
        obj["spec"]["replicas"] = scale["spec"]["replicas"]
        self._admission.admit(rt, obj)
        # Ownership of what /scale writes is recorded with subresource "scale", as the
        # API server's scale handler does (pkg/util/managedfields/scalehandler.go).
        record_update(rt, current, obj, opts.manager, self._now(), subresource="scale")
        self.store.update(rt, namespace, obj, dry_run=opts.dry_run)
        return self.scale(rt, namespace, name)

    def patch_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        opts: WriteOptions,
    ) -> Obj:
        patcher = PATCHERS.get(content_type.split(";")[0].strip())
        if patcher is None:
            raise ApiError.unsupported_media_type(content_type)
        patched = patcher(self.scale(rt, namespace, name), _parse(body, "json"))
        return self.set_scale(rt, namespace, name, patched, opts)
