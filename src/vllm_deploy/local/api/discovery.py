"""Discovery documents: ``/version``, ``/api``, ``/apis`` and each group-version's resources,
shaped as k8s.io/apiserver pkg/endpoints/discovery writes them (legacy, unaggregated: a
client asking for aggregated discovery gets plain JSON and falls back, as from an older
API server)."""

from __future__ import annotations

from typing import Any

from vllm_deploy import __version__
from vllm_deploy.local.resources import ALL_VERBS, RESOURCES, ResourceType, group_versions

__all__ = ["KUBERNETES_VERSION", "api_groups", "api_versions", "resource_list", "version"]

KUBERNETES_VERSION = (1, 32)
# Subresource -> (group, version, kind, verbs) of what it serves.
_SUBRESOURCES: dict[str, tuple[str, str, str, list[str]]] = {
    "status": ("", "", "", ["get", "patch", "update"]),
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "log": ("", "v1", "Pod", ["get"]),
    "eviction": ("policy", "v1", "Eviction", ["create"]),
}


def version() -> dict[str, str]:
    major, minor = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.0+vllm-deploy-local-{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_groups(extra: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The APIGroupList; ``extra`` adds aggregated groups (group -> versions, preferred first)."""
    groups = []
    for name, versions in {**group_versions(), **(extra or {})}.items():
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _entry(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(ALL_VERBS),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def resource_list(group: str, version_: str) -> dict[str, Any] | None:
    """The APIResourceList of ``group/version``; None when it is not served."""
    resources = [r for r in RESOURCES if (r.group, r.version) == (group, version_)]
    if not resources:
        return None
    listed: list[dict[str, Any]] = []
    for rt in resources:
        listed.append(_entry(rt))
        for sub in rt.subresources:
            sub_group, sub_version, sub_kind, verbs = _SUBRESOURCES[sub]
            entry = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub_kind or rt.kind,
                "verbs": verbs,
            }
            if sub_group or sub_version:
                entry.update(group=sub_group, version=sub_version)
            listed.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version_}" if group else version_,
        "resources": listed,
    }
