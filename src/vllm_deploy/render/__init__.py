"""Kubernetes manifests from a deployment spec: one file per component plus a kustomization."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from vllm_deploy.render import autoscaling, cache, monitoring, network, workload
from vllm_deploy.render.common import Obj
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["dump", "render", "write"]

Component = Callable[[DeploymentSpec], Obj]
HEADER = "# Rendered by `vllm-deploy render`; edit the spec, not this file.\n"


def _components(spec: DeploymentSpec) -> dict[str, list[Component]]:
    """File name -> the objects it holds; optional parts appear only when enabled."""
    files: dict[str, list[Component]] = {
        "serviceaccount.yaml": [workload.service_account],
        "configmap.yaml": [workload.config_map],
        "deployment.yaml": [workload.deployment],
        "service.yaml": [network.service],
        "networkpolicy.yaml": [network.network_policy],
    }
    if spec.create_namespace:
        files["namespace.yaml"] = [workload.namespace]
    if spec.cache.kind == "shared":
        files["pvc.yaml"] = [cache.pvc]
        if spec.model.huggingface:
            files["model-download-job.yaml"] = [cache.download_job, cache.download_network_policy]
    if spec.replicas > 1 or (spec.autoscaling.enabled and spec.autoscaling.max_replicas > 1):
        files["pdb.yaml"] = [network.pod_disruption_budget]
    if spec.ingress.enabled:
        files["ingress.yaml"] = [network.ingress]
    if spec.autoscaling.enabled and spec.autoscaling.engine == "hpa":
        files["hpa.yaml"] = [autoscaling.hpa]
        files["prometheus-adapter-rules.yaml"] = [autoscaling.adapter_rules]
    if spec.autoscaling.enabled and spec.autoscaling.engine == "keda":
        files["keda-scaledobject.yaml"] = [autoscaling.keda_scaled_object]
    if spec.observability.prometheus_operator:
        files["podmonitor.yaml"] = [monitoring.pod_monitor]
        files["slo-rules.yaml"] = [monitoring.slo_rule]  # this deployment's own SLO alerts
        if spec.observability.rules:  # cluster-wide: from one spec per cluster
            files["prometheusrule.yaml"] = [monitoring.prometheus_rule]
    if spec.observability.dashboards:  # cluster-wide too
        files["dashboards.yaml"] = [monitoring.dashboards_config_map]
    return files


def render(spec: DeploymentSpec) -> dict[str, list[Obj]]:
    """File name -> objects, deterministic for a given spec."""
    return {name: [build(spec) for build in parts] for name, parts in _components(spec).items()}


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors or aliases, even where objects share parts."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def dump(objects: list[Obj]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, width=4096)


def write(spec: DeploymentSpec, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    rendered = render(spec)
    for name, objects in rendered.items():
        path = out_dir / name
        path.write_text(HEADER + dump(objects))
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(rendered),
    }
    (out_dir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return [*written, out_dir / "kustomization.yaml"]
