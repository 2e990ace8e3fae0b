"""The resource types the local API server serves: the kinds vllm-deploy renders, and what
the controllers, kubectl and the official client need around them.

Names, groups, versions, scopes and short names are those of Kubernetes 1.32's discovery
documents (`kubectl api-resources`); CRDs are served as stored, unvalidated, like an API
server with the CRD installed and a permissive schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RESOURCES", "ResourceType", "by_kind", "by_path", "group_versions"]

Verb = Literal["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
ALL_VERBS: tuple[Verb, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


_GENERATION_KINDS = frozenset(
    {
        "Deployment",
        "ReplicaSet",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
    }
)


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: ``/apis/<group>/<version>[/namespaces/<ns>]/<plural>``."""

    group: str  # "" for the core group (/api/v1)
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "log", "eviction"
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_generation(self) -> bool:
        """Kinds whose spec changes are counted in metadata.generation (as the API server's
        strategies do for them; custom resources always have it)."""
        return self.kind in _GENERATION_KINDS or (
            "." in self.group and not self.group.endswith("k8s.io")
        )

    @property
    def qualified(self) -> str:
        """``deployments.apps``, as errors name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",)),
    ResourceType("", "v1", "Node", "nodes", False, ("no",), ("status",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    ResourceType("", "v1", "Secret", "secrets"),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        short_names=("svc",),
        subresources=("status",),
        categories=("all",),
    ),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        short_names=("po",),
        subresources=("status", "log", "eviction"),
        categories=("all",),
    ),
    ResourceType("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
    ResourceType("", "v1", "Event", "events", short_names=("ev",)),
    ResourceType(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short_names=("pvc",),
        subresources=("status",),
    ),
    # Stored, not run: the shared model cache's download Job (no Job controller here).
    ResourceType("batch", "v1", "Job", "jobs", subresources=("status",), categories=("all",)),
    ResourceType(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
    ResourceType(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
    ResourceType(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short_names=("hpa",),
        subresources=("status",),
        categories=("all",),
    ),
    ResourceType(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short_names=("pdb",),
        subresources=("status",),
    ),
    ResourceType(
        "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        short_names=("ing",),
        subresources=("status",),
    ),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # The CRDs vllm-deploy renders: stored as they are.
    ResourceType("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors", short_names=("pmon",)),
    ResourceType(
        "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors", short_names=("smon",)
    ),
    ResourceType(
        "monitoring.coreos.com",
        "v1",
        "PrometheusRule",
        "prometheusrules",
        short_names=("promrule",),
    ),
    ResourceType(
        "keda.sh",
        "v1alpha1",
        "ScaledObject",
        "scaledobjects",
        short_names=("so",),
        subresources=("status",),
    ),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def by_path(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    return _BY_KIND.get((api_version, kind))


def group_versions() -> dict[str, list[str]]:
    """Every named group and its versions (the core group is served at /api)."""
    groups: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return groups
