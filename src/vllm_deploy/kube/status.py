"""``vllm-deploy status``: what an operator needs first: the revision and image, each pod
(ready, draining, restarts, age, node), the autoscaler (metric against target, desired,
bounds, last scale), recent warnings, and with a Prometheus URL the SLO picture."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from vllm_deploy.kube.deploy import spec_digest, spec_of
from vllm_deploy.kube.errors import OpsError
from vllm_deploy.kube.inspect import (
    REVISION,
    PodView,
    age,
    deployment_of,
    events_of,
    pods_of,
    selector_of,
)
from vllm_deploy.kube.prom import Prometheus, pods_matcher
from vllm_deploy.kube.scale import autoscaler_of
from vllm_deploy.spec import DeploymentSpec

__all__ = ["status"]


def _autoscaler(api: client.ApiClient, spec: DeploymentSpec) -> dict[str, Any] | None:
    found = autoscaler_of(api, spec)
    if found is None:
        return None
    kind, obj = found
    name = obj["metadata"]["name"]
    if kind == "ScaledObject":  # KEDA drives an HPA of its own: report that one
        name = f"keda-hpa-{name}"
    try:
        hpa = client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(
            name, spec.namespace
        )
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        return {"kind": kind, "name": obj["metadata"]["name"], "status": "no HPA yet"}
    h: dict[str, Any] = api.sanitize_for_serialization(hpa)
    st = h.get("status") or {}
    metrics = []
    for target, current in zip(
        h["spec"].get("metrics") or [], st.get("currentMetrics") or [], strict=False
    ):
        kind_key = target["type"][0].lower() + target["type"][1:]
        want = target[kind_key].get("target") or {}
        have = (current.get(kind_key) or {}).get("current") or {}
        metrics.append(
            {
                "metric": (target[kind_key].get("metric") or {}).get("name")
                or target[kind_key].get("name"),
                "current": have.get("averageValue")
                or have.get("value")
                or have.get("averageUtilization"),
                "target": want.get("averageValue")
                or want.get("value")
                or want.get("averageUtilization"),
            }
        )
    return {
        "kind": kind,
        "name": h["metadata"]["name"],
        "min": h["spec"].get("minReplicas", 1),
        "max": h["spec"]["maxReplicas"],
        "current": st.get("currentReplicas"),
        "desired": st.get("desiredReplicas"),
        "last_scale": st.get("lastScaleTime"),
        "metrics": metrics,
        "conditions": {
            c["type"]: f"{c['status']} {c.get('reason', '')}".strip()
            for c in st.get("conditions") or []
        },
    }


def status(
    api: client.ApiClient, spec: DeploymentSpec, prometheus_url: str | None = None
) -> dict[str, Any]:
    d = deployment_of(api, spec)
    if d is None:
        raise OpsError(
            f"deployment {spec.namespace}/{spec.app_name} does not exist: deploy it first"
        )
    meta, st = d["metadata"], d.get("status") or {}
    deployed = spec_of(d)
    selector = selector_of(spec)
    pods = [PodView.of(p) for p in pods_of(api, spec.namespace, selector)]
    names = {p.name for p in pods} | {spec.app_name}
    warnings = [
        {
            "age": age(e.get("lastTimestamp") or e.get("firstTimestamp")),
            "object": (
                f"{e['involvedObject'].get('kind', '').lower()}/{e['involvedObject'].get('name')}"
            ),
            "reason": e.get("reason"),
            "message": e.get("message"),
            "count": e.get("count") or 1,
        }
        for e in events_of(api, spec.namespace)
        if e.get("type") == "Warning"
        and (
            e["involvedObject"].get("name") in names
            or str(e["involvedObject"].get("name", "")).startswith(spec.app_name)
        )
    ][-10:]
    report: dict[str, Any] = {
        "deployment": f"{spec.namespace}/{spec.app_name}",
        "revision": int((meta.get("annotations") or {}).get(REVISION, "0")),
        "spec": spec_digest(deployed) if deployed else None,
        "images": [c["image"] for c in d["spec"]["template"]["spec"]["containers"]],
        "replicas": {
            "desired": d["spec"].get("replicas"),
            "updated": st.get("updatedReplicas", 0),
            "ready": st.get("readyReplicas", 0),
            "available": st.get("availableReplicas", 0),
        },
        "conditions": {
            c["type"]: f"{c['status']} {c.get('reason', '')}".strip()
            for c in st.get("conditions") or []
        },
        "pods": [p.__dict__ for p in pods],
        "autoscaler": _autoscaler(api, spec),
        "warnings": warnings,
    }
    if prometheus_url:
        values = Prometheus(prometheus_url).slo(
            pods_matcher(spec.namespace, f"{spec.app_name}-.*"), spec.slo.window
        )
        report["slo"] = {
            "window": spec.slo.window,
            "measured": values.as_dict(),
            "objective": {
                "ttft_p95_s": spec.slo.ttft_p95_s,
                "itl_p95_s": spec.slo.itl_p95_s,
                "error_ratio": spec.slo.error_ratio,
            },
        }
    return report
