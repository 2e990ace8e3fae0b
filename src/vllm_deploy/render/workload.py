"""Namespace, ServiceAccount, ConfigMap, model cache PVC and the Deployment."""

from __future__ import annotations

import hashlib
import json
import math

from vllm_deploy.contract import ENV_PREFIX
from vllm_deploy.render import cache
from vllm_deploy.render.common import (
    ANNOTATION_PREFIX,
    HTTP_PORT,
    SECRETS_DIR,
    Obj,
    container_security,
    metadata,
    pod_labels,
    pod_security,
    selector_labels,
)
from vllm_deploy.spec.models import DeploymentSpec, SecretRef

__all__ = ["config_map", "deployment", "namespace", "service_account"]

READY_TIMEOUT_S = 5
# Caches of vLLM, torch and triton on the writable /tmp (the root filesystem is read-only).
CACHE_ENV = {
    "HOME": "/tmp",
    "USER": "vllm",
    "XDG_CACHE_HOME": "/tmp/.cache",
    "VLLM_CACHE_ROOT": "/tmp/vllm",
    "TRITON_CACHE_DIR": "/tmp/triton",
    "TORCHINDUCTOR_CACHE_DIR": "/tmp/inductor",
}


def namespace(spec: DeploymentSpec) -> Obj:
    meta = metadata(spec, spec.namespace, namespaced=False)
    meta["labels"]["pod-security.kubernetes.io/enforce"] = cache.pod_security_level(spec)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(spec: DeploymentSpec) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(spec, spec.app_name),
        "automountServiceAccountToken": False,
    }


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
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(spec, spec.app_name),
        "data": config_map_data(spec),
    }


def _simulated_args(spec: DeploymentSpec) -> list[str]:
    sim = spec.engine.simulated
    return [
        "--sim-ttft-ms",
        f"{sim.ttft_ms:g}",
        "--sim-itl-ms",
        f"{sim.itl_ms:g}",
        "--sim-prefill-ms-per-token",
        f"{sim.prefill_ms_per_token:g}",
        "--sim-load-factor",
        f"{sim.load_factor:g}",
        "--sim-startup-s",
        f"{sim.startup_s:g}",
        "--sim-output-tokens",
        str(sim.output_tokens),
    ]


def _serve_args(spec: DeploymentSpec) -> list[str]:
    engine = spec.engine
    # The simulated engine loads no weights: its model is just the name it serves.
    model = spec.model.name if engine.kind == "simulated" else spec.model.local_path
    args = [
        "serve",
        "--engine",
        engine.kind,
        "--model",
        model,
        "--served-model-name",
        spec.model.name,
        "--host",
        "0.0.0.0",
        "--port",
        str(HTTP_PORT),
        "--shutdown-timeout",
        str(engine.shutdown_timeout_s),
    ]
    if engine.max_model_len:
        args += ["--max-model-len", str(engine.max_model_len)]
    if engine.max_num_seqs:
        args += ["--max-num-seqs", str(engine.max_num_seqs)]
    if engine.kind == "simulated":
        args += _simulated_args(spec)
    if engine.extra_args:
        args += ["--", *engine.extra_args]
    return args


def _shared_mounts(spec: DeploymentSpec) -> list[Obj]:
    """The volumes every container of the pod mounts: the model cache and a writable /tmp."""
    return [cache.models_mount(spec), {"name": "tmp", "mountPath": "/tmp"}]


# Secrets the server reads as files: (spec field, volume name, the VLLMDEPLOY_ variable naming it).
_SERVER_SECRETS = (
    ("api_keys", "api-keys", "API_KEY_FILE"),
    ("admin_token", "admin-token", "ADMIN_TOKEN_FILE"),
)


def _home_env(spec: DeploymentSpec) -> list[Obj]:
    """Where vLLM, torch, triton and Hugging Face keep caches (every container)."""
    return [
        *({"name": k, "value": v} for k, v in CACHE_ENV.items()),
        {"name": "HF_HOME", "value": cache.hf_home(spec)},
    ]


def _server_env(spec: DeploymentSpec) -> list[Obj]:
    env = [
        *_home_env(spec),
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "OTEL_SERVICE_NAME", "value": spec.app_name},
    ]
    if spec.observability.otlp_endpoint:
        env.append(
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": spec.observability.otlp_endpoint}
        )
    return env


def _secret_volume(name: str, ref: SecretRef) -> Obj:
    return {
        "name": name,
        "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": "token"}]},
    }


def _volumes(spec: DeploymentSpec) -> list[Obj]:
    """The model cache (render.cache decides its kind), /tmp, /dev/shm, the secrets."""
    volumes: list[Obj] = [
        cache.models_volume(spec),
        {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.shm}},
    ]
    for field, volume, _ in _SERVER_SECRETS:
        ref = getattr(spec.secrets, field)
        if ref is not None:
            volumes.append(_secret_volume(volume, ref))
    if spec.secrets.hf_token and cache.pod_downloads(spec):  # on a shared cache, only the Job
        volumes.append(cache.token_volume(spec))
    return volumes


def _server_secrets(spec: DeploymentSpec) -> tuple[list[Obj], list[Obj]]:
    """Secrets are mounted as files, never passed as environment variables: (mounts, env)."""
    mounts: list[Obj] = []
    env: list[Obj] = []
    for field, volume, variable in _SERVER_SECRETS:
        if getattr(spec.secrets, field) is None:
            continue
        mounts.append({"name": volume, "mountPath": f"{SECRETS_DIR}/{volume}", "readOnly": True})
        env.append({"name": f"{ENV_PREFIX}{variable}", "value": f"{SECRETS_DIR}/{volume}/token"})
    return mounts, env


def _http_get(path: str, period_s: int, failures: int, timeout_s: int = 5) -> Obj:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": timeout_s,
        "failureThreshold": failures,
    }


def _startup_failures(spec: DeploymentSpec) -> int:
    return math.ceil(spec.startup_budget_s / spec.probes.startup_period_s)


def _probes(spec: DeploymentSpec) -> Obj:
    """Startup (the model load's budget) and readiness on /health/ready, liveness on
    /health/live."""
    probes = spec.probes
    startup_failures = _startup_failures(spec)
    readiness = _http_get(
        "/health/ready",
        probes.readiness_period_s,
        probes.readiness_failure_threshold,
        READY_TIMEOUT_S,
    )
    liveness = _http_get(
        "/health/live", probes.liveness_period_s, probes.liveness_failure_threshold
    )
    # A liveness restart of a stalled engine need not wait for a full drain.
    liveness["terminationGracePeriodSeconds"] = spec.engine.shutdown_timeout_s + spec.drain.margin_s
    return {
        "startupProbe": _http_get("/health/ready", probes.startup_period_s, startup_failures),
        "readinessProbe": {**readiness, "successThreshold": 1},
        "livenessProbe": liveness,
    }


def _server(spec: DeploymentSpec) -> Obj:
    """The `vllm` container: the server, its probes, and the preStop drain."""
    secret_mounts, secret_env = _server_secrets(spec)
    gpu = {spec.gpu.resource: str(spec.gpu.count)} if spec.gpu.count else {}
    amounts = {"cpu": spec.resources.cpu, "memory": spec.resources.memory, **gpu}
    return {
        "name": "vllm",
        "image": spec.image.ref,
        "imagePullPolicy": spec.image.pull_policy,
        "command": ["vllm-deploy"],
        "args": _serve_args(spec),
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": spec.app_name}}],
        "env": [*_server_env(spec), *secret_env],
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
        **_probes(spec),
        # No --timeout: the hook reads the drain deadline from the ConfigMap, as the server does.
        "lifecycle": {
            "preStop": {"exec": {"command": ["vllm-deploy", "drain", "--port", str(HTTP_PORT)]}}
        },
        "volumeMounts": [
            *_shared_mounts(spec),
            {"name": "dshm", "mountPath": "/dev/shm"},
            *secret_mounts,
        ],
        "securityContext": container_security(),
    }


def _pod_spec(spec: DeploymentSpec) -> Obj:
    pod: Obj = {
        "serviceAccountName": spec.app_name,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": spec.grace_period_s,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
    }
    init = cache.init_containers(spec, _home_env(spec))
    if init:
        pod["initContainers"] = init
    pod["containers"] = [_server(spec)]
    pod["volumes"] = _volumes(spec)
    pod["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector_labels(spec)},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    if spec.gpu.node_selector:
        pod["nodeSelector"] = dict(spec.gpu.node_selector)
    if spec.gpu.count and spec.gpu.tolerate_gpu_taint:
        pod["tolerations"] = [
            {"key": spec.gpu.resource, "operator": "Exists", "effect": "NoSchedule"}
        ]
    return pod


def deployment(spec: DeploymentSpec) -> Obj:
    """The Deployment: rolling updates sized by the spec, a rollout deadline that outlasts a
    first download and load, and pods that restart when the middleware's settings change."""
    annotations = {
        f"{ANNOTATION_PREFIX}profile": spec.profile,
        f"{ANNOTATION_PREFIX}expected-load-seconds": str(spec.probes.expected_load_s),
        f"{ANNOTATION_PREFIX}cache-kind": spec.cache.kind,
    }
    # Pods restart when the middleware settings change (they are read at start).
    checksum = hashlib.sha256(json.dumps(config_map_data(spec), sort_keys=True).encode())
    template = {
        "metadata": {
            "labels": pod_labels(spec),
            "annotations": {f"{ANNOTATION_PREFIX}config-checksum": checksum.hexdigest()[:16]},
        },
        "spec": _pod_spec(spec),
    }
    rolling = {"maxSurge": spec.rollout.max_surge, "maxUnavailable": spec.rollout.max_unavailable}
    body: Obj = {
        "selector": {"matchLabels": selector_labels(spec)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
        "minReadySeconds": spec.rollout.min_ready_seconds,
        "revisionHistoryLimit": 5,
        # A first start downloads weights (or waits for the Job's) and loads them: the default
        # 600 s would call it failed. The startup budget as the probe rounds it.
        "progressDeadlineSeconds": (
            _startup_failures(spec) * spec.probes.startup_period_s
            + spec.rollout.min_ready_seconds
            + cache.start_allowance_s(spec)
        ),
        "template": template,
    }
    if not spec.autoscaling.enabled:
        body["replicas"] = spec.replicas  # with an autoscaler, it owns the count
    meta = metadata(spec, spec.app_name, annotations=annotations)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": body}
