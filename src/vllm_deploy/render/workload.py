"""Namespace, ServiceAccount, ConfigMap, model cache PVC and the Deployment."""

from __future__ import annotations

import hashlib
import json
import math

from vllm_deploy.contract import ENV_PREFIX
from vllm_deploy.render.common import (
    ANNOTATION_PREFIX,
    HTTP_PORT,
    Obj,
    metadata,
    pod_labels,
    selector_labels,
)
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["config_map", "deployment", "namespace", "pvc", "service_account"]

READY_TIMEOUT_S = 5
# Time a first start may spend downloading weights, on top of the startup budget.
DOWNLOAD_ALLOWANCE_S = 900
# Caches of vLLM, torch and triton on the writable /tmp (the root filesystem is read-only).
CACHE_ENV = {"HOME": "/tmp", "USER": "vllm", "XDG_CACHE_HOME": "/tmp/.cache", "VLLM_CACHE_ROOT": "/tmp/vllm",
             "TRITON_CACHE_DIR": "/tmp/triton", "TORCHINDUCTOR_CACHE_DIR": "/tmp/inductor"}  # fmt: skip
RUN_AS = 10001  # a high UID: no clash with host users
SECRETS_DIR = "/etc/vllm-deploy"


def namespace(spec: DeploymentSpec) -> Obj:
    meta = metadata(spec, spec.namespace, namespaced=False)
    meta["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(spec: DeploymentSpec) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(spec, spec.app_name),
            "automountServiceAccountToken": False}  # fmt: skip


def config_map_data(spec: DeploymentSpec) -> dict[str, str]:
    data = {
        "MAX_INFLIGHT": str(spec.observability.max_inflight),
        # The drain deadline's one carrier: the middleware and the preStop hook read it here.
        "DRAIN_TIMEOUT_S": str(spec.drain.timeout_s),
        "DRAIN_QUIET_S": f"{spec.drain.quiet_s:g}",
        "WATCHDOG_STALL_S": f"{spec.observability.watchdog_stall_s:g}",
        # Below the readiness probe's timeout: a slow engine answers 503, not a probe timeout.
        "ENGINE_HEALTH_TIMEOUT_S": str(READY_TIMEOUT_S - 2),
        "LOG_LEVEL": spec.observability.log_level,
    }
    return {ENV_PREFIX + k: v for k, v in data.items()}


def config_map(spec: DeploymentSpec) -> Obj:
    """The middleware's settings (VLLMDEPLOY_*), consistent with the pod's timings."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(spec, spec.app_name),
            "data": config_map_data(spec)}  # fmt: skip


def _claim(spec: DeploymentSpec) -> Obj:
    body: Obj = {
        "accessModes": [spec.cache.access_mode],
        "resources": {"requests": {"storage": spec.cache.size}},
    }
    if spec.cache.storage_class:
        body["storageClassName"] = spec.cache.storage_class
    return body


def pvc(spec: DeploymentSpec) -> Obj:
    """The shared model cache (``cache.kind: shared``)."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": metadata(spec, f"{spec.app_name}-models"), "spec": _claim(spec)}  # fmt: skip


def _container_security() -> Obj:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip


def _simulated_args(spec: DeploymentSpec) -> list[str]:
    sim = spec.engine.simulated
    return ["--sim-ttft-ms", f"{sim.ttft_ms:g}", "--sim-itl-ms", f"{sim.itl_ms:g}",
            "--sim-prefill-ms-per-token", f"{sim.prefill_ms_per_token:g}",
            "--sim-load-factor", f"{sim.load_factor:g}", "--sim-startup-s", f"{sim.startup_s:g}",
            "--sim-output-tokens", str(sim.output_tokens)]  # fmt: skip


def _serve_args(spec: DeploymentSpec) -> list[str]:
    engine = spec.engine
    # The simulated engine loads no weights: its model is just the name it serves.
    model = spec.model.name if engine.kind == "simulated" else spec.model.local_path
    args = ["serve", "--engine", engine.kind, "--model", model, "--served-model-name", spec.model.name,
            "--host", "0.0.0.0", "--port", str(HTTP_PORT), "--shutdown-timeout", str(engine.shutdown_timeout_s)]  # fmt: skip
    if engine.max_model_len:
        args += ["--max-model-len", str(engine.max_model_len)]
    if engine.max_num_seqs:
        args += ["--max-num-seqs", str(engine.max_num_seqs)]
    if engine.kind == "simulated":
        args += _simulated_args(spec)
    if engine.extra_args:
        args += ["--", *engine.extra_args]
    return args


def _prefetch(spec: DeploymentSpec, mounts: list[Obj], env: list[Obj]) -> list[Obj]:
    """Downloads the weights into the cache volume; the server then runs offline."""
    if spec.model.huggingface is None:
        return []
    script = (
        "from huggingface_hub import snapshot_download; "
        f"snapshot_download(repo_id={spec.model.huggingface!r}, revision={spec.model.revision!r}, "
        f"local_dir={spec.model.local_path!r}, ignore_patterns=['original/*', '*.pth', '*.pt'])"
    )
    token_env: list[Obj] = []
    token_mounts: list[Obj] = []
    if spec.secrets.hf_token:  # as a file (HF_TOKEN_PATH), not an environment variable
        token_env = [{"name": "HF_TOKEN_PATH", "value": f"{SECRETS_DIR}/hf-token/token"}]
        token_mounts = [
            {"name": "hf-token", "mountPath": f"{SECRETS_DIR}/hf-token", "readOnly": True}
        ]
    return [{
        "name": "model-prefetch", "image": spec.image.ref, "imagePullPolicy": spec.image.pull_policy,
        "command": ["python3", "-c", script], "env": [*env, *token_env],
        "volumeMounts": [*mounts, *token_mounts],
        "securityContext": _container_security(),
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    }]  # fmt: skip


def deployment(spec: DeploymentSpec) -> Obj:
    mounts = [{"name": "models", "mountPath": "/models"}, {"name": "tmp", "mountPath": "/tmp"}]
    home_env = [
        *({"name": k, "value": v} for k, v in CACHE_ENV.items()),
        {"name": "HF_HOME", "value": "/models/.hf"},
    ]
    env = [
        *home_env,
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "OTEL_SERVICE_NAME", "value": spec.app_name},
    ]
    if spec.observability.otlp_endpoint:
        env.append(
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": spec.observability.otlp_endpoint}
        )
    if spec.cache.kind == "shared":
        models_volume: Obj = {
            "name": "models",
            "persistentVolumeClaim": {"claimName": f"{spec.app_name}-models"},
        }
    else:  # one volume per pod, created and deleted with it: no node-affinity trap
        models_volume = {"name": "models", "ephemeral": {"volumeClaimTemplate": {
            "metadata": {"labels": selector_labels(spec)}, "spec": _claim(spec)}}}  # fmt: skip
    volumes: list[Obj] = [
        models_volume,
        {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.shm}},
    ]
    serve_mounts: list[Obj] = [*mounts, {"name": "dshm", "mountPath": "/dev/shm"}]
    # Secrets are mounted as files, never passed as environment variables.
    for ref, volume, variable in ((spec.secrets.api_keys, "api-keys", "API_KEY_FILE"),
                                  (spec.secrets.admin_token, "admin-token", "ADMIN_TOKEN_FILE")):  # fmt: skip
        if ref is None:
            continue
        volumes.append(
            {
                "name": volume,
                "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": "token"}]},
            }
        )
        serve_mounts.append(
            {"name": volume, "mountPath": f"{SECRETS_DIR}/{volume}", "readOnly": True}
        )
        env.append({"name": f"{ENV_PREFIX}{variable}", "value": f"{SECRETS_DIR}/{volume}/token"})
    if spec.secrets.hf_token and spec.model.huggingface:
        volumes.append({"name": "hf-token", "secret": {"secretName": spec.secrets.hf_token.name,
                                                       "items": [{"key": spec.secrets.hf_token.key, "path": "token"}]}})  # fmt: skip
    gpu = {spec.gpu.resource: str(spec.gpu.count)} if spec.gpu.count else {}
    probe_port = "http"
    startup_failures = math.ceil(spec.startup_budget_s / spec.probes.startup_period_s)
    container = {
        "name": "vllm", "image": spec.image.ref, "imagePullPolicy": spec.image.pull_policy,
        "command": ["vllm-deploy"], "args": _serve_args(spec),
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": spec.app_name}}], "env": env,
        "resources": {"requests": {"cpu": spec.resources.cpu, "memory": spec.resources.memory, **gpu},
                      "limits": {"cpu": spec.resources.cpu, "memory": spec.resources.memory, **gpu}},
        "startupProbe": {"httpGet": {"path": "/health/ready", "port": probe_port}, "periodSeconds": spec.probes.startup_period_s,
                         "timeoutSeconds": 5, "failureThreshold": startup_failures},
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": probe_port},
                           "periodSeconds": spec.probes.readiness_period_s, "timeoutSeconds": READY_TIMEOUT_S,
                           "failureThreshold": spec.probes.readiness_failure_threshold, "successThreshold": 1},
        "livenessProbe": {"httpGet": {"path": "/health/live", "port": probe_port},
                          "periodSeconds": spec.probes.liveness_period_s, "timeoutSeconds": 5,
                          "failureThreshold": spec.probes.liveness_failure_threshold,
                          # a liveness restart of a stalled engine need not wait for a full drain
                          "terminationGracePeriodSeconds": spec.engine.shutdown_timeout_s + spec.drain.margin_s},
        "lifecycle": {"preStop": {"exec": {"command": ["vllm-deploy", "drain", "--port", str(HTTP_PORT)]}}},
        "volumeMounts": serve_mounts, "securityContext": _container_security(),
    }  # fmt: skip
    tolerations = [{"key": spec.gpu.resource, "operator": "Exists", "effect": "NoSchedule"}] if (
        spec.gpu.count and spec.gpu.tolerate_gpu_taint) else []  # fmt: skip
    pod_spec: Obj = {
        "serviceAccountName": spec.app_name, "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": spec.grace_period_s, "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
                            "fsGroupChangePolicy": "OnRootMismatch",
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": _prefetch(spec, mounts, home_env), "containers": [container], "volumes": volumes,
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": selector_labels(spec)}}
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")],
    }  # fmt: skip
    if not pod_spec["initContainers"]:
        del pod_spec["initContainers"]
    if spec.gpu.node_selector:
        pod_spec["nodeSelector"] = dict(spec.gpu.node_selector)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    annotations = {
        f"{ANNOTATION_PREFIX}profile": spec.profile,
        f"{ANNOTATION_PREFIX}expected-load-seconds": str(spec.probes.expected_load_s),
    }
    body: Obj = {
        "selector": {"matchLabels": selector_labels(spec)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": spec.rollout.max_surge,
                                                                "maxUnavailable": spec.rollout.max_unavailable}},
        "minReadySeconds": spec.rollout.min_ready_seconds, "revisionHistoryLimit": 5,
        # A first start downloads weights and loads them: the default 600 s would call it failed.
        "progressDeadlineSeconds": spec.startup_budget_s + spec.rollout.min_ready_seconds + DOWNLOAD_ALLOWANCE_S,
        "template": {"metadata": {"labels": pod_labels(spec), "annotations": {
            # Pods restart when the middleware settings change (they are read at start).
            f"{ANNOTATION_PREFIX}config-checksum": hashlib.sha256(
                json.dumps(config_map_data(spec), sort_keys=True).encode()).hexdigest()[:16]}},
            "spec": pod_spec},
    }  # fmt: skip
    if not (spec.autoscaling.enabled):
        body["replicas"] = spec.replicas  # with an autoscaler, it owns the count
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": metadata(spec, spec.app_name, annotations=annotations), "spec": body}  # fmt: skip
