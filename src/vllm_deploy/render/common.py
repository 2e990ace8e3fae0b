"""Names, labels and annotations every rendered object shares."""

from __future__ import annotations

from typing import Any

from vllm_deploy import __version__
from vllm_deploy.spec.models import DeploymentSpec

__all__ = [
    "ANNOTATION_PREFIX",
    "HTTP_PORT",
    "RUN_AS",
    "SECRETS_DIR",
    "Obj",
    "container_security",
    "metadata",
    "pod_labels",
    "pod_security",
    "selector_labels",
]

Obj = dict[str, Any]
HTTP_PORT = 8000
# Facts about the spec the validator needs, carried on the Deployment.
ANNOTATION_PREFIX = "vllm-deploy.io/"
RUN_AS = 10001  # a high UID: no clash with host users; the images' USER
SECRETS_DIR = "/etc/vllm-deploy"


def selector_labels(spec: DeploymentSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": spec.name}


def pod_labels(spec: DeploymentSpec) -> dict[str, str]:
    return {
        **selector_labels(spec),
        "app.kubernetes.io/part-of": "vllm-deploy",
        "app.kubernetes.io/managed-by": "vllm-deploy",
        "app.kubernetes.io/version": spec.image.tag,
    }


def metadata(spec: DeploymentSpec, name: str, *, namespaced: bool = True, **extra: Any) -> Obj:
    meta: Obj = {
        "name": name,
        "labels": {**pod_labels(spec), "vllm-deploy.io/generator": __version__},
    }
    if namespaced:
        meta["namespace"] = spec.namespace
    meta.update(extra)
    return meta


def container_security() -> Obj:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
