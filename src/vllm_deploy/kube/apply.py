"""Server-side apply of rendered objects, in dependency order, as field manager ``vllm-deploy``.

Dependency order (as Helm and kubectl's apply do for a release): namespaces, then what pods
read (service accounts, config, secrets, claims), then services, the workload, and what
watches or scales it (autoscalers, budgets, policies, ingress, monitoring).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

__all__ = [
    "FIELD_MANAGER",
    "KIND_ORDER",
    "Applied",
    "ApplyFailed",
    "apply_objects",
    "changed_paths",
    "sort_for_apply",
]

FIELD_MANAGER = "vllm-deploy"
KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "ScaledObject",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Ingress",
    "PodMonitor",
    "ServiceMonitor",
    "PrometheusRule",
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Applied:
    kind: str
    namespace: str | None
    name: str
    action: Literal["created", "configured", "unchanged"]
    changes: tuple[str, ...] = ()  # the fields that changed (paths), for a configured object

    def __str__(self) -> str:
        text = f"{self.kind.lower()}/{self.name} {self.action}"
        if self.changes:
            shown = ", ".join(self.changes[:6]) + (", ..." if len(self.changes) > 6 else "")
            text += f" ({shown})"
        return text


class ApplyFailed(Exception):
    """An object was refused: what was applied before it, and what was not."""

    def __init__(
        self, applied: list[Applied], failed: Obj, reason: str, pending: list[Obj]
    ) -> None:
        self.applied, self.failed, self.reason, self.pending = applied, failed, reason, pending
        names = [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in pending]
        done = [f"{a.kind.lower()}/{a.name}" for a in applied]
        super().__init__(
            f"{failed['kind'].lower()}/{failed['metadata']['name']} was refused: {reason}; "
            f"applied before it: {', '.join(done) or 'nothing'}; "
            f"not applied: {', '.join(names) or 'nothing'}"
        )


# What the API server writes itself: never a change the user made.
_SERVER_FIELDS = frozenset(
    {"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"}
)


def changed_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """The paths where ``after`` differs from ``before`` (status and server-set metadata aside)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            if (path == "" and key == "status") or (path == ".metadata" and key in _SERVER_FIELDS):
                continue
            out += changed_paths(before.get(key), after.get(key), f"{path}.{key}")
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            p
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for p in changed_paths(b, a, f"{path}[{i}]")
        ]
    return [] if before == after else [path.lstrip(".") or "."]


def sort_for_apply(objects: Iterable[Obj]) -> list[Obj]:
    def rank(obj: Obj) -> tuple[int, str]:
        kind = obj.get("kind", "")
        return (
            KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER),
            obj["metadata"]["name"],
        )

    return sorted(objects, key=rank)


def apply_objects(
    api: client.ApiClient, objects: Iterable[Obj], *, dry_run: bool = False, force: bool = True
) -> list[Applied]:
    """Applies each object; ``force`` takes fields over from other managers (kubectl edits)."""
    dynamic = DynamicClient(api)
    results: list[Applied] = []
    ordered = sort_for_apply(objects)
    for index, obj in enumerate(ordered):
        meta = obj["metadata"]
        try:
            resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            before = _current(resource, meta)
            kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": force}
            if dry_run:
                kwargs["dry_run"] = "All"
            after = resource.server_side_apply(body=obj, namespace=meta.get("namespace"), **kwargs)
        except (client.ApiException, ResourceNotFoundError) as exc:
            raise ApplyFailed(results, obj, _reason(exc), ordered[index + 1 :]) from exc
        action: Literal["created", "configured", "unchanged"] = "created"
        changes: tuple[str, ...] = ()
        if before is not None:
            changes = tuple(changed_paths(before.to_dict(), after.to_dict()))
            action = "configured" if changes else "unchanged"
        results.append(Applied(obj["kind"], meta.get("namespace"), meta["name"], action, changes))
    return results


def _reason(exc: Exception) -> str:
    """The API's Status message, else the exception."""
    if isinstance(exc, client.ApiException):
        body = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
        try:
            return f"{exc.status} {json.loads(body or '{}').get('message') or exc.reason}"
        except ValueError:
            return f"{exc.status} {exc.reason}"
    if isinstance(exc, ResourceNotFoundError):
        return f"the API server does not serve it ({exc})"
    return str(exc)


def _current(resource: Any, meta: Obj) -> Any:
    try:
        return resource.get(name=meta["name"], namespace=meta.get("namespace"))
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
