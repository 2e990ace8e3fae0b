"""``vllm-deploy scale``: aware of the autoscaler. With a HorizontalPodAutoscaler (or a KEDA
ScaledObject, which drives one), a replica count written on the Deployment is undone at the
autoscaler's next sync (pkg/controller/podautoscaler: it sets the scale subresource to its
own recommendation, every 15 s by default): so the bounds change instead, or the request is
refused with that explanation."""

from __future__ import annotations

import time

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from vllm_deploy.kube.deploy import Say
from vllm_deploy.kube.errors import OpsError, UsageError
from vllm_deploy.kube.inspect import Obj, deployment_of
from vllm_deploy.kube.rollout import wait_for_rollout
from vllm_deploy.spec import DeploymentSpec

__all__ = ["SCALE_MANAGER", "autoscaler_of", "scale"]

SCALE_MANAGER = "vllm-deploy-scale"


def autoscaler_of(api: client.ApiClient, spec: DeploymentSpec) -> tuple[str, Obj] | None:
    """("HorizontalPodAutoscaler" | "ScaledObject", the object) that scales the Deployment."""
    dynamic = DynamicClient(api)
    for api_version, kind in (
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ):
        try:
            resource = dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            continue
        for item in resource.get(namespace=spec.namespace).items:
            target = item.spec.scaleTargetRef
            if (target.kind or "Deployment") == "Deployment" and target.name == spec.app_name:
                found: Obj = item.to_dict()
                return kind, found
    return None


def _bounds(kind: str, obj: Obj) -> tuple[int, int]:
    if kind == "ScaledObject":
        return int(obj["spec"].get("minReplicaCount", 0)), int(
            obj["spec"].get("maxReplicaCount", 100)
        )
    return int(obj["spec"].get("minReplicas", 1)), int(obj["spec"]["maxReplicas"])


def scale(
    api: client.ApiClient,
    spec: DeploymentSpec,
    replicas: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    timeout_s: float = 600.0,
    say: Say = lambda _: None,
) -> str:
    """Scales and waits for the Deployment to settle; returns what was done."""
    if deployment_of(api, spec) is None:
        raise OpsError(
            f"deployment {spec.namespace}/{spec.app_name} does not exist: deploy it first"
        )
    scaler = autoscaler_of(api, spec)
    if replicas is not None:
        if scaler is not None:
            kind, obj = scaler
            low, high = _bounds(kind, obj)
            raise UsageError(
                f"{spec.app_name} is scaled by {kind} {obj['metadata']['name']} "
                f"(min {low}, max {high}): "
                "a replica count set by hand is undone at its next sync. Use --min/--max, "
                "or set autoscaling.enabled: false in the spec and deploy"
            )
        client.AppsV1Api(api).patch_namespaced_deployment_scale(
            spec.app_name,
            spec.namespace,
            {"spec": {"replicas": replicas}},
            field_manager=SCALE_MANAGER,
        )
        wait_for_rollout(
            api, spec.namespace, spec.app_name, timeout_s, on_progress=lambda s: say(s.message)
        )
        return f"deployment/{spec.app_name} scaled to {replicas} replicas"
    if scaler is None:
        raise UsageError(f"{spec.app_name} has no autoscaler: use --replicas")
    kind, obj = scaler
    low, high = _bounds(kind, obj)
    low, high = minimum if minimum is not None else low, maximum if maximum is not None else high
    if low < 1 or high < low:
        raise UsageError(f"--min {low} and --max {high}: need 1 <= min <= max")
    name = obj["metadata"]["name"]
    if kind == "ScaledObject":
        body = {"spec": {"minReplicaCount": low, "maxReplicaCount": high}}
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "keda.sh",
            "v1alpha1",
            spec.namespace,
            "scaledobjects",
            name,
            body,
            field_manager=SCALE_MANAGER,
        )
    else:
        body = {"spec": {"minReplicas": low, "maxReplicas": high}}
        client.AutoscalingV2Api(api).patch_namespaced_horizontal_pod_autoscaler(
            name, spec.namespace, body, field_manager=SCALE_MANAGER
        )
    say(f"{kind.lower()}/{name}: min {low}, max {high}")
    # The autoscaler moves the Deployment inside the new bounds at its next sync.
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout_s
    while True:
        current = apps.read_namespaced_deployment_scale(spec.app_name, spec.namespace)
        replicas_now = (current.spec.replicas if current.spec else 0) or 0
        if low <= replicas_now <= high:
            break
        if time.monotonic() > deadline:
            raise OpsError(
                f"the autoscaler did not bring {spec.app_name} within [{low}, {high}] "
                f"in {timeout_s:g} s"
            )
        time.sleep(1)
    wait_for_rollout(
        api, spec.namespace, spec.app_name, timeout_s, on_progress=lambda s: say(s.message)
    )
    return (
        f"{kind.lower()}/{name}: min {low}, max {high}; "
        f"{spec.app_name} has {replicas_now} replicas. "
        "The next deploy sets the bounds back to the spec's "
        "autoscaling.min_replicas/max_replicas: change the spec to keep them"
    )
