"""``vllm-deploy deploy``: render, validate, preflight, server-side apply, prune, wait for the
rollout as ``kubectl rollout status`` does, smoke-test through the API server, and roll back
to the previous revision by itself when any of it fails.

Each Deployment carries the spec that produced it (annotation ``vllm-deploy.io/spec``); the
Deployment controller copies it onto the revision's ReplicaSet. So a rollback re-applies the
whole previous revision (its ConfigMap included), not only the pod template as ``kubectl
rollout undo`` does.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from vllm_deploy.kube.apply import Applied, ApplyFailed, apply_objects
from vllm_deploy.kube.errors import OpsError, UsageError
from vllm_deploy.kube.inspect import REVISION, Obj, deployment_of, selector_of, why_not_ready
from vllm_deploy.kube.preflight import Check, preflight
from vllm_deploy.kube.rollout import RolloutFailed, RolloutStatus, wait_for_rollout
from vllm_deploy.render import render
from vllm_deploy.spec import DeploymentSpec
from vllm_deploy.validate import validate_objects

__all__ = [
    "CHANGE_CAUSE",
    "SPEC_ANNOTATION",
    "TRACK_LABEL",
    "DeployOptions",
    "DeployResult",
    "PreflightFailed",
    "deploy",
    "rendered_objects",
    "spec_of",
]

SPEC_ANNOTATION = "vllm-deploy.io/spec"
CHANGE_CAUSE = "kubernetes.io/change-cause"  # what `kubectl rollout history` shows
TRACK_LABEL = "vllm-deploy.io/track"  # canary objects: never pruned by a deploy
# The apiVersion each prunable kind is rendered with.
_PRUNABLE = {
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "PersistentVolumeClaim": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "ScaledObject": "keda.sh/v1alpha1",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "Job": "batch/v1",
}


class PreflightFailed(OpsError):
    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        failed = [c.name for c in checks if not c.passed]
        super().__init__(f"preflight failed: {', '.join(failed)}")


Say = Callable[[str], None]


@dataclass
class DeployOptions:
    spec: DeploymentSpec
    dry_run: bool = False
    timeout_s: float = 900.0
    rollback: bool = True
    preflight: bool = True
    smoke: bool = True
    cause: str | None = None


@dataclass
class DeployResult:
    revision: int
    applied: list[Applied]
    pruned: list[str] = field(default_factory=list)
    smoke: str = ""
    dry_run: bool = False


def spec_digest(spec: DeploymentSpec) -> str:
    return hashlib.sha256(_spec_json(spec).encode()).hexdigest()[:12]


def _spec_json(spec: DeploymentSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def spec_of(obj: Obj) -> DeploymentSpec | None:
    """The spec a Deployment or ReplicaSet was made from, when it carries one."""
    text = (obj["metadata"].get("annotations") or {}).get(SPEC_ANNOTATION)
    if not text:
        return None
    return DeploymentSpec.model_validate(json.loads(text))


def rendered_objects(spec: DeploymentSpec, cause: str | None = None) -> list[Obj]:
    """Every object the spec renders, validated, the Deployment annotated with the spec."""
    objects = [copy.deepcopy(o) for objs in render(spec).values() for o in objs]
    problems = validate_objects(objects)
    if problems:
        raise UsageError(
            f"the rendered manifests do not validate: {problems[0]} ({len(problems)} problem(s))"
        )
    for obj in objects:
        if obj["kind"] == "Deployment":
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[SPEC_ANNOTATION] = _spec_json(spec)
            annotations[CHANGE_CAUSE] = cause or f"vllm-deploy deploy (spec {spec_digest(spec)})"
    return objects


def prune(
    api: client.ApiClient, spec: DeploymentSpec, keep: list[Obj], dry_run: bool = False
) -> list[str]:
    """Deletes what this spec rendered before (our labels) and no longer renders; never a
    Namespace, never a canary's objects."""
    dynamic = DynamicClient(api)
    selector = (
        "app.kubernetes.io/managed-by=vllm-deploy,"
        f"app.kubernetes.io/instance={spec.name},!{TRACK_LABEL}"
    )
    wanted = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in keep}
    namespaces = {spec.namespace} | {
        o["metadata"]["namespace"] for o in keep if o["metadata"].get("namespace")
    }
    pruned: list[str] = []
    for kind, api_version in _PRUNABLE.items():
        try:
            resource = dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            continue  # not served here: nothing of that kind to prune
        for ns in sorted(namespaces):
            for item in resource.get(namespace=ns, label_selector=selector).items:
                key = (kind, ns, item.metadata.name)
                if key in wanted:
                    continue
                kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
                resource.delete(
                    name=item.metadata.name, namespace=ns, propagation_policy="Background", **kwargs
                )
                pruned.append(f"{kind.lower()}/{item.metadata.name}")
    return pruned


def _revision(api: client.ApiClient, spec: DeploymentSpec) -> int:
    d = deployment_of(api, spec)
    return int(((d or {}).get("metadata", {}).get("annotations") or {}).get(REVISION, "0"))


def _proxy(
    api: client.ApiClient, method: str, path: str, body: Obj | None = None
) -> tuple[int, bytes]:
    """A request through the API server (its Service proxy), authenticated as the client is."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    serialized = api.param_serialize(
        method=method,
        resource_path=path,
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    answer = api.call_api(
        *serialized[:3], body=serialized[3], post_params=serialized[4], _request_timeout=60
    )
    answer.read()
    return answer.status, answer.data or b""


def smoke_test(api: client.ApiClient, spec: DeploymentSpec) -> str:
    """``/v1/models`` and a 1-token completion through the Service proxy. With API keys set,
    the API server removes the caller's Authorization header before proxying (its
    authentication filter), so the key cannot reach the pod that way: the check is then that
    the pods answer ``/v1/models`` with the middleware's 401."""
    base = f"/api/v1/namespaces/{spec.namespace}/services/{spec.app_name}:http/proxy"
    model = spec.model.name
    status, data = _proxy(api, "GET", f"{base}/v1/models")
    if spec.secrets.api_keys is not None:
        if status != 401:
            raise OpsError(
                f"smoke test: GET /v1/models without a key answered {status}, "
                f"not 401: {data[:200]!r}"
            )
        return (
            "GET /v1/models: 401 without a key, as the API keys require "
            "(the proxy cannot carry one)"
        )
    if status != 200:
        raise OpsError(f"smoke test: GET /v1/models answered {status}: {data[:300]!r}")
    ids = [m.get("id") for m in json.loads(data).get("data") or []]
    if model not in ids:
        raise OpsError(f"smoke test: /v1/models lists {ids}, not {model!r}")
    body = {"model": model, "prompt": "ping", "max_tokens": 1}
    status, data = _proxy(api, "POST", f"{base}/v1/completions", body)
    if status != 200:
        raise OpsError(f"smoke test: a 1-token completion answered {status}: {data[:300]!r}")
    tokens = (json.loads(data).get("usage") or {}).get("completion_tokens")
    return f"GET /v1/models lists {model}; a 1-token completion answered 200 ({tokens} token)"


def _apply(api: client.ApiClient, objects: list[Obj], dry_run: bool) -> list[Applied]:
    try:
        return apply_objects(api, objects, dry_run=dry_run)
    except ApplyFailed as exc:
        raise OpsError(f"apply failed: {exc}") from None


def _roll_out(api: client.ApiClient, spec: DeploymentSpec, timeout_s: float, say: Say) -> None:
    def progress(status: RolloutStatus) -> None:
        say(status.message)

    wait_for_rollout(api, spec.namespace, spec.app_name, timeout_s, on_progress=progress)


def _diagnosis(api: client.ApiClient, spec: DeploymentSpec) -> list[str]:
    d = deployment_of(api, spec)
    if d is None:
        return []
    selector = selector_of(spec)
    # The newest ReplicaSet's pods: those of the revision that did not become ready.
    listed = client.AppsV1Api(api).list_namespaced_replica_set(
        spec.namespace, label_selector=selector
    )
    sets: list[Obj] = api.sanitize_for_serialization(listed.items)
    newest = max(
        sets,
        key=lambda r: int((r["metadata"].get("annotations") or {}).get(REVISION, "0")),
        default=None,
    )
    template_hash = (
        (newest["metadata"].get("labels") or {}).get("pod-template-hash") if newest else None
    )
    return why_not_ready(api, spec.namespace, selector, template_hash)


def deploy(
    api: client.ApiClient, options: DeployOptions, say: Say = lambda _: None
) -> DeployResult:
    """Raises PreflightFailed, OpsError (after rolling back when it could) or UsageError."""
    spec = options.spec
    objects = rendered_objects(spec, options.cause)
    if options.preflight:
        checks = preflight(api, spec, objects)
        if not all(c.passed for c in checks):
            raise PreflightFailed(checks)
        say(f"preflight: {len(checks)} checks passed")
    if options.dry_run:
        applied = _apply(api, objects, dry_run=True)
        return DeployResult(
            _revision(api, spec), applied, prune(api, spec, objects, dry_run=True), dry_run=True
        )

    before = deployment_of(api, spec)
    previous = spec_of(before) if before is not None else None
    previous_revision = _revision(api, spec)
    applied = _apply(api, objects, dry_run=False)
    for a in applied:
        say(str(a))
    pruned = prune(api, spec, objects)
    for name in pruned:
        say(f"{name} pruned")
    try:
        _roll_out(api, spec, options.timeout_s, say)
        smoke = smoke_test(api, spec) if options.smoke else ""
        if smoke:
            say(f"smoke test: {smoke}")
    except (RolloutFailed, OpsError) as exc:
        reason = [str(exc), *_diagnosis(api, spec)]
        if not options.rollback or previous is None:
            why = (
                "--no-rollback"
                if not options.rollback
                else "there is no previous revision to go back to"
            )
            raise OpsError("\n".join([*reason, f"not rolled back: {why}"])) from None
        say(f"rolling back to revision {previous_revision}: {exc}")
        try:
            restore = rendered_objects(
                previous, f"vllm-deploy rollback after a failed deploy (spec {spec_digest(spec)})"
            )
            _apply(api, restore, dry_run=False)
            prune(api, previous, restore)
            _roll_out(api, previous, options.timeout_s, say)
        except (RolloutFailed, OpsError) as again:
            raise OpsError("\n".join([*reason, f"the rollback failed too: {again}"])) from None
        raise OpsError(
            "\n".join(
                [*reason, f"rolled back to the previous spec (now revision {_revision(api, spec)})"]
            )
        ) from None
    return DeployResult(_revision(api, spec), applied, pruned, smoke)
