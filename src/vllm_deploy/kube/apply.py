"""Server-side apply of rendered objects, in dependency order, as field manager ``vllm-deploy``.

Dependency order (as Helm and kubectl's apply do for a release): namespaces, then what pods
read (service accounts, config, secrets, claims), then services, the workload, and what
watches or scales it (autoscalers, budgets, policies, ingress, monitoring).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes import client
from kubernetes.dynamic import DynamicClient

__all__ = ["FIELD_MANAGER", "KIND_ORDER", "Applied", "apply_objects", "sort_for_apply"]

FIELD_MANAGER = "vllm-deploy"
KIND_ORDER = (
    "Namespace", "ServiceAccount", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service",
    "Deployment", "HorizontalPodAutoscaler", "ScaledObject", "PodDisruptionBudget",
    "NetworkPolicy", "Ingress", "PodMonitor", "ServiceMonitor", "PrometheusRule",
)  # fmt: skip

Obj = dict[str, Any]


@dataclass(frozen=True)
class Applied:
    kind: str
    namespace: str | None
    name: str
    action: Literal["created", "configured", "unchanged"]

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} {self.action}"


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
    results = []
    for obj in sort_for_apply(objects):
        meta = obj["metadata"]
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        before = _current(resource, meta)
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": force}
        if dry_run:
            kwargs["dry_run"] = "All"
        after = resource.server_side_apply(body=obj, namespace=meta.get("namespace"), **kwargs)
        action: Literal["created", "configured", "unchanged"] = "created"
        if before is not None:
            same = before.metadata.resourceVersion == after.metadata.resourceVersion
            action = "unchanged" if same else "configured"
        results.append(Applied(obj["kind"], meta.get("namespace"), meta["name"], action))
    return results


def _current(resource: Any, meta: Obj) -> Any:
    try:
        return resource.get(name=meta["name"], namespace=meta.get("namespace"))
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
