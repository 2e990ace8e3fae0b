"""``vllm-deploy preflight``: can this cluster run this spec? Each check passes or fails with
the fix; nothing is written to the cluster and no Secret value is read into the output."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from vllm_deploy.kube.inspect import Obj
from vllm_deploy.spec import DeploymentSpec

__all__ = ["Check", "preflight"]

# API group -> what installs it.
_PROVIDERS = {
    "monitoring.coreos.com": "the Prometheus Operator CRDs (kube-prometheus-stack; docs/setup.md)",
    "keda.sh": "KEDA (helm install keda kedacore/keda; docs/setup.md)",
    "networking.k8s.io": "a Kubernetes version that serves networking.k8s.io/v1",
}
_MIN_MINOR, _MAX_MINOR = 30, 37  # what `vllm-deploy validate` checks the manifests against


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    fix: str = ""


def _served(dynamic: DynamicClient, api_version: str, kind: str) -> bool:
    try:
        dynamic.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        return False
    return True


def _group_served(api: client.ApiClient, group: str) -> bool:
    groups = client.ApisApi(api).get_api_versions().groups or []
    return any(g.name == group for g in groups)


def _version(api: client.ApiClient) -> Check:
    info = client.VersionApi(api).get_code()
    minor = int("".join(ch for ch in info.minor if ch.isdigit()) or 0)
    ok = info.major == "1" and _MIN_MINOR <= minor <= _MAX_MINOR
    return Check(
        "Kubernetes version",
        ok,
        f"{info.git_version}",
        "" if ok else f"the manifests are validated for 1.{_MIN_MINOR} to 1.{_MAX_MINOR}",
    )


def _kinds(dynamic: DynamicClient, objects: Iterable[Obj]) -> list[Check]:
    checks = []
    for api_version, kind in sorted({(o["apiVersion"], o["kind"]) for o in objects}):
        ok = _served(dynamic, api_version, kind)
        group = api_version.split("/")[0] if "/" in api_version else ""
        checks.append(
            Check(
                f"{kind} ({api_version}) served",
                ok,
                "served" if ok else "not served by this API server",
                "" if ok else f"install {_PROVIDERS.get(group, group or 'the core API')}",
            )
        )
    return checks


def _metrics_apis(api: client.ApiClient, objects: Iterable[Obj]) -> list[Check]:
    checks = []
    for obj in objects:
        if obj["kind"] != "HorizontalPodAutoscaler":
            continue
        kinds = {m["type"] for m in obj["spec"].get("metrics") or []}
        needs = {
            "Pods": "custom.metrics.k8s.io",
            "Object": "custom.metrics.k8s.io",
            "External": "external.metrics.k8s.io",
            "Resource": "metrics.k8s.io",
        }
        for group in sorted({needs[k] for k in kinds if k in needs}):
            ok = _group_served(api, group)
            fix = {
                "custom.metrics.k8s.io": "install prometheus-adapter with the rendered "
                "prometheus-adapter-rules ConfigMap (docs/setup.md), "
                "or use autoscaling.backend: keda",
                "external.metrics.k8s.io": "install KEDA (docs/setup.md)",
                "metrics.k8s.io": "install metrics-server",
            }[group]
            checks.append(
                Check(
                    f"{group} served (the HPA's metrics)",
                    ok,
                    "served" if ok else "not served",
                    "" if ok else fix,
                )
            )
    return checks


def _ingress_class(api: client.ApiClient, spec: DeploymentSpec) -> list[Check]:
    if not spec.ingress.enabled:
        return []
    name = spec.ingress.class_name
    try:
        client.NetworkingV1Api(api).read_ingress_class(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        return [
            Check(
                f"IngressClass {name}",
                False,
                "not found",
                "install ingress-nginx, or set ingress.class_name to a class this cluster has",
            )
        ]
    return [Check(f"IngressClass {name}", True, "exists")]


def _gpus(api: client.ApiClient, spec: DeploymentSpec) -> list[Check]:
    if spec.gpu.count == 0:
        return []
    nodes: list[Obj] = api.sanitize_for_serialization(client.CoreV1Api(api).list_node().items)
    wanted = spec.gpu.node_selector
    matching = [
        n
        for n in nodes
        if all((n["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
    ]
    per_node = [
        int(((n.get("status") or {}).get("allocatable") or {}).get(spec.gpu.resource, "0"))
        for n in matching
    ]
    fits = sum(math.floor(g / spec.gpu.count) for g in per_node)
    floor = spec.autoscaling.min_replicas if spec.autoscaling.enabled else spec.replicas
    most = spec.autoscaling.max_replicas if spec.autoscaling.enabled else spec.replicas
    detail = (
        f"{len(matching)} node(s) match {wanted or 'no selector'}, "
        f"{sum(per_node)} {spec.gpu.resource} allocatable: "
        f"{fits} pod(s) of {spec.gpu.count} fit (need {floor}, up to {most})"
    )
    ok = fits >= floor
    fix = (
        ""
        if ok
        else (
            f"add GPU nodes labelled {wanted} with the device plugin (docs/setup.md), "
            f"or lower {'autoscaling.min_replicas' if spec.autoscaling.enabled else 'replicas'}"
        )
    )
    return [Check(f"allocatable {spec.gpu.resource}", ok, detail, fix)]


def _secrets(api: client.ApiClient, spec: DeploymentSpec, namespace_exists: bool) -> list[Check]:
    wanted: list[tuple[str, str, str | None]] = []  # (what, secret, key)
    for field, ref in (
        ("secrets.api_keys", spec.secrets.api_keys),
        ("secrets.hf_token", spec.secrets.hf_token),
        ("secrets.admin_token", spec.secrets.admin_token),
    ):
        if ref is not None:
            wanted.append((field, ref.name, ref.key))
    if spec.ingress.enabled and spec.ingress.tls_secret:
        wanted.append(("ingress.tls_secret", spec.ingress.tls_secret, "tls.crt"))
    checks = []
    core = client.CoreV1Api(api)
    for field, name, key in wanted:
        label = f"Secret {spec.namespace}/{name} ({field})"
        fix = f"kubectl -n {spec.namespace} create secret generic {name} --from-literal={key}=..."
        if field == "ingress.tls_secret":
            fix = f"kubectl -n {spec.namespace} create secret tls {name} --cert=... --key=..."
        if not namespace_exists:
            checks.append(
                Check(label, False, f"namespace {spec.namespace} does not exist yet", fix)
            )
            continue
        try:
            secret = core.read_namespaced_secret(name, spec.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            checks.append(Check(label, False, "not found", fix))
            continue
        keys = set(secret.data or {})  # names only, never values
        ok = key in keys
        checks.append(
            Check(
                label,
                ok,
                f"has key {key}" if ok else f"has no key {key!r} (keys: {sorted(keys)})",
                "" if ok else fix,
            )
        )
    return checks


def _namespace(api: client.ApiClient, spec: DeploymentSpec) -> tuple[Check, bool]:
    try:
        client.CoreV1Api(api).read_namespace(spec.namespace)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        ok = spec.create_namespace
        detail = "does not exist; the spec creates it" if ok else "does not exist"
        fix = (
            ""
            if ok
            else f"kubectl create namespace {spec.namespace}, or set create_namespace: true"
        )
        return Check(f"namespace {spec.namespace}", ok, detail, fix), False
    return Check(f"namespace {spec.namespace}", True, "exists"), True


def preflight(api: client.ApiClient, spec: DeploymentSpec, objects: list[Obj]) -> list[Check]:
    """Every check, in the order a fix is best made."""
    dynamic = DynamicClient(api)
    namespace, exists = _namespace(api, spec)
    checks: list[Check] = [_version(api), namespace]
    checks += _kinds(dynamic, objects)
    checks += _metrics_apis(api, objects)
    checks += _ingress_class(api, spec)
    checks += _gpus(api, spec)
    checks += _secrets(api, spec, exists)
    return checks


def as_rows(checks: list[Check]) -> list[dict[str, Any]]:
    return [{"check": c.name, "passed": c.passed, "detail": c.detail, "fix": c.fix} for c in checks]
