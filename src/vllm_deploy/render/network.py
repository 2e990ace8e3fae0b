"""Service, Ingress (only /v1, nginx tuned for long streams), NetworkPolicy, PodDisruptionBudget."""

from __future__ import annotations

from vllm_deploy.render.common import HTTP_PORT, Obj, metadata, selector_labels
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["ingress", "network_policy", "pod_disruption_budget", "service"]

NGINX = "nginx.ingress.kubernetes.io/"


def service(spec: DeploymentSpec) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec, spec.app_name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec),
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(spec: DeploymentSpec) -> Obj:
    # Streams may last as long as the longest request: nginx must neither time out nor buffer.
    timeout = str(spec.drain.timeout_s + spec.drain.margin_s)
    annotations = {
        f"{NGINX}proxy-read-timeout": timeout,
        f"{NGINX}proxy-send-timeout": timeout,
        f"{NGINX}proxy-buffering": "off",
        f"{NGINX}proxy-request-buffering": "off",
        f"{NGINX}proxy-body-size": spec.ingress.body_size,
        f"{NGINX}proxy-http-version": "1.1",
    }
    assert spec.ingress.host is not None
    body: Obj = {
        "ingressClassName": spec.ingress.class_name,
        "rules": [
            {
                "host": spec.ingress.host,
                "http": {
                    "paths": [
                        {
                            "path": "/v1",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": spec.app_name, "port": {"name": "http"}}
                            },
                        }
                    ]
                },
            }
        ],
    }
    if spec.ingress.tls_secret:
        body["tls"] = [{"hosts": [spec.ingress.host], "secretName": spec.ingress.tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(spec, spec.app_name, annotations=annotations),
        "spec": body,
    }


def network_policy(spec: DeploymentSpec) -> Obj:
    """Only the ingress controller, Prometheus and pods of the namespace reach the server port."""

    def from_namespace(name: str) -> Obj:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}

    peers = [
        from_namespace(spec.network.ingress_namespace),
        from_namespace(spec.network.monitoring_namespace),
        {"podSelector": {}},
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(spec, spec.app_name),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(spec)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"port": HTTP_PORT, "protocol": "TCP"}]}],
        },
    }


def pod_disruption_budget(spec: DeploymentSpec) -> Obj:
    # maxUnavailable 1 always allows a node drain to proceed, one pod at a time.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(spec, spec.app_name),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(spec)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
