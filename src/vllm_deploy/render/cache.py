"""The model cache: its volume, who downloads into it, and the download Job of a shared cache.

One table says what each ``cache.kind`` renders (docs/deploy.md, "The model cache"):

- ``shared``: a ReadWriteMany PVC; a Job per revision downloads into it and writes the
  completion marker; pods mount it read-only and wait in an init container for their
  revision's marker, never downloading (no token is mounted in them).
- ``node``: a directory on the node (hostPath); the first pod on a node downloads in its
  init container under a lock, the others find the marker.
- ``ephemeral``: a volume claim per pod, created and deleted with it; every pod downloads.

Each revision has its own directory (``/models/<name>/<revision>``), so a new revision
downloads beside the old one and a rollback finds its weights still there.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from vllm_deploy.render.common import (
    SECRETS_DIR,
    Obj,
    container_security,
    metadata,
    pod_security,
    selector_labels,
)
from vllm_deploy.spec.models import DeploymentSpec

__all__ = [
    "KINDS",
    "MODELS_DIR",
    "CacheKind",
    "download_job",
    "download_network_policy",
    "hf_home",
    "init_containers",
    "job_name",
    "models_mount",
    "models_volume",
    "pod_downloads",
    "pod_security_level",
    "pvc",
    "start_allowance_s",
]

MODELS_DIR = "/models"
COMPONENT = "model-download"
_FILL_RESOURCES: Obj = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"cpu": "2", "memory": "4Gi"},
}
_WAIT_RESOURCES: Obj = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"cpu": "200m", "memory": "256Mi"},
}


@dataclass(frozen=True, slots=True)
class CacheKind:
    """What a cache kind means for a pod (the simulator and the docs read this table too)."""

    downloads: Literal["job", "first-pod-on-node", "every-pod"]
    pod_mount_read_only: bool
    volume: Literal["persistentVolumeClaim", "hostPath", "ephemeral"]


KINDS: dict[str, CacheKind] = {
    "shared": CacheKind("job", pod_mount_read_only=True, volume="persistentVolumeClaim"),
    "node": CacheKind("first-pod-on-node", pod_mount_read_only=False, volume="hostPath"),
    "ephemeral": CacheKind("every-pod", pod_mount_read_only=False, volume="ephemeral"),
}


def _kind(spec: DeploymentSpec) -> CacheKind:
    return KINDS[spec.cache.kind]


def pod_downloads(spec: DeploymentSpec) -> bool:
    """Whether a pod of this spec may download weights (and so needs the token)."""
    return spec.model.huggingface is not None and _kind(spec).downloads != "job"


def start_allowance_s(spec: DeploymentSpec) -> int:
    """Time a rollout's start may spend before the server's own startup: the pod's download
    (node, ephemeral) or its wait for the Job's (shared). Kept for weights given as a path
    too: with a deadline of about a minute, the local stand-in's rollout rehearsal records no
    exit for old pods whose logs show a clean one (not explained yet); a longer deadline
    costs nothing there."""
    return spec.cache.download_timeout_s


def pod_security_level(spec: DeploymentSpec) -> str:
    """The Namespace's Pod Security level: ``restricted``, but a node cache's hostPath volume
    is admitted only by ``privileged`` (baseline forbids hostPath too)."""
    return "privileged" if _kind(spec).volume == "hostPath" else "restricted"


def hf_home(spec: DeploymentSpec) -> str:
    """HF_HOME: on the cache volume where pods write it, else on the writable /tmp."""
    return "/tmp/.hf" if _kind(spec).pod_mount_read_only else f"{MODELS_DIR}/.hf"


def models_mount(spec: DeploymentSpec) -> Obj:
    mount: Obj = {"name": "models", "mountPath": MODELS_DIR}
    if _kind(spec).pod_mount_read_only:
        mount["readOnly"] = True
    return mount


def claim_name(spec: DeploymentSpec) -> str:
    return f"{spec.app_name}-models"


def _claim(spec: DeploymentSpec) -> Obj:
    body: Obj = {
        "accessModes": [spec.cache.volume_access_mode],
        "resources": {"requests": {"storage": spec.cache.size}},
    }
    if spec.cache.storage_class:
        body["storageClassName"] = spec.cache.storage_class
    return body


def pvc(spec: DeploymentSpec) -> Obj:
    """The shared model cache (``cache.kind: shared``)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(spec, claim_name(spec)),
        "spec": _claim(spec),
    }


def models_volume(spec: DeploymentSpec) -> Obj:
    volume = _kind(spec).volume
    if volume == "persistentVolumeClaim":
        return {
            "name": "models",
            "persistentVolumeClaim": {"claimName": claim_name(spec), "readOnly": True},
        }
    if volume == "hostPath":  # the directory must exist, writable by the pods' UID (docs)
        return {"name": "models", "hostPath": {"path": spec.cache.node_path, "type": "Directory"}}
    # one volume per pod, created and deleted with it: no node-affinity trap
    return {
        "name": "models",
        "ephemeral": {
            "volumeClaimTemplate": {
                "metadata": {"labels": selector_labels(spec)},
                "spec": _claim(spec),
            }
        },
    }


def _token(spec: DeploymentSpec) -> tuple[list[Obj], list[Obj]]:
    """The Hugging Face token as a file (HF_TOKEN_PATH): env and mounts, for a downloader."""
    if spec.secrets.hf_token is None:
        return [], []
    env = [{"name": "HF_TOKEN_PATH", "value": f"{SECRETS_DIR}/hf-token/token"}]
    mounts = [{"name": "hf-token", "mountPath": f"{SECRETS_DIR}/hf-token", "readOnly": True}]
    return env, mounts


def token_volume(spec: DeploymentSpec) -> Obj:
    ref = spec.secrets.hf_token
    assert ref is not None
    return {
        "name": "hf-token",
        "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": "token"}]},
    }


def _fill_command(spec: DeploymentSpec) -> list[str]:
    assert spec.model.huggingface is not None
    return [
        "vllm-deploy",
        "cache",
        "fill",
        "--repo",
        spec.model.huggingface,
        "--revision",
        spec.model.revision,
        "--dir",
        spec.model.local_path,
    ]


def init_containers(spec: DeploymentSpec, env: list[Obj]) -> list[Obj]:
    """The pod's cache step: fill (node, ephemeral) or wait for the Job (shared)."""
    if spec.model.huggingface is None:
        return []  # the weights are a path on the volume, put there by you
    base = {"image": spec.image.ref, "imagePullPolicy": spec.image.pull_policy}
    mount = models_mount(spec)
    if not pod_downloads(spec):
        wait = [
            "vllm-deploy",
            "cache",
            "wait",
            "--revision",
            spec.model.revision,
            "--dir",
            spec.model.local_path,
            "--timeout",
            str(spec.cache.download_timeout_s),
        ]
        return [
            {
                "name": "model-wait",
                **base,
                "command": wait,
                "env": env,
                "volumeMounts": [mount],
                "securityContext": container_security(),
                "resources": _WAIT_RESOURCES,
            }
        ]
    token_env, token_mounts = _token(spec)
    return [
        {
            "name": "model-prefetch",
            **base,
            "command": _fill_command(spec),
            "env": [*env, *token_env],
            "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}, *token_mounts],
            "securityContext": container_security(),
            "resources": _FILL_RESOURCES,
        }
    ]


def _revision_tag(revision: str) -> str:
    """8 characters naming the revision in the Job's name: a commit's prefix, else a hash."""
    if re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision[:8]
    return hashlib.sha256(revision.encode()).hexdigest()[:8]


def job_name(spec: DeploymentSpec) -> str:
    """One Job per revision (a Job's pod template cannot change): ≤ 63 characters."""
    return f"{spec.app_name}-download-{_revision_tag(spec.model.revision)}"


def _job_pod_labels(spec: DeploymentSpec) -> dict[str, str]:
    """Not the server's labels: no Service, PDB or PodMonitor selects the download's pod."""
    return {
        "app.kubernetes.io/name": "vllm-model-download",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": "vllm-deploy",
        "app.kubernetes.io/managed-by": "vllm-deploy",
    }


def download_network_policy(spec: DeploymentSpec) -> Obj:
    """The download's pod serves nothing: no connection in (it only connects out, to the Hub)."""
    meta = metadata(spec, f"{spec.app_name}-download")
    meta["labels"].update(_job_pod_labels(spec))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {"podSelector": {"matchLabels": _job_pod_labels(spec)}, "policyTypes": ["Ingress"]},
    }


def download_job(spec: DeploymentSpec) -> Obj:
    """Downloads the revision into the shared volume once; resumes when retried."""
    labels = _job_pod_labels(spec)
    meta = metadata(spec, job_name(spec))
    meta["labels"].update(labels)
    token_env, token_mounts = _token(spec)
    env = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": f"{MODELS_DIR}/.hf"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        *token_env,
    ]
    container = {
        "name": "download",
        "image": spec.image.ref,
        "imagePullPolicy": spec.image.pull_policy,
        "command": _fill_command(spec),
        "env": env,
        "volumeMounts": [
            {"name": "models", "mountPath": MODELS_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            *token_mounts,
        ],
        "securityContext": container_security(),
        "resources": _FILL_RESOURCES,
    }
    volumes: list[Obj] = [
        {"name": "models", "persistentVolumeClaim": {"claimName": claim_name(spec)}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    if spec.secrets.hf_token:
        volumes.append(token_volume(spec))
    pod_spec = {
        "serviceAccountName": spec.app_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "OnFailure",
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            # Each retry resumes the partial download; the deadline bounds the whole.
            "backoffLimit": 6,
            "activeDeadlineSeconds": spec.cache.download_timeout_s,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
