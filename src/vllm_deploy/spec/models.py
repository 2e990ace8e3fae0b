"""The deployment spec: one small YAML file per model, validated strictly (unknown fields fail)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vllm_deploy.contract import DEFAULT_DRAIN_TIMEOUT_S
from vllm_deploy.vllm_cli import check_serve_args, option_flags, parse_serve_args

__all__ = [
    "Autoscaling",
    "Cache",
    "DeploymentSpec",
    "Drain",
    "Engine",
    "Gpu",
    "Image",
    "Ingress",
    "Model",
    "Network",
    "Observability",
    "Probes",
    "Resources",
    "Rollout",
    "SecretRef",
    "Secrets",
    "SimulatedEngine",
    "Slo",
]

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Image(_Strict):
    repository: str = "ghcr.io/vllm-deploy/vllm-deploy"
    tag: str = "0.1.0-vllm0.33.0"
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


class Model(_Strict):
    """Where the weights come from: a Hugging Face repository, or a path on the cache volume."""

    name: Annotated[str, Field(pattern=_DNS_LABEL)]
    huggingface: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")] | None = None
    path: Annotated[str, Field(pattern=r"^/models/.+")] | None = None
    revision: str = "main"

    @model_validator(mode="after")
    def _one_source(self) -> Model:
        if (self.huggingface is None) == (self.path is None):
            raise ValueError("set exactly one of model.huggingface or model.path")
        return self

    @property
    def revision_slug(self) -> str:
        """The revision as one path segment (``refs/pr/1`` -> ``refs--pr--1``)."""
        return re.sub(r"[^A-Za-z0-9._-]", "--", self.revision)

    @property
    def local_path(self) -> str:
        """Where the server reads the weights: each revision in its own directory."""
        return self.path or f"/models/{self.name}/{self.revision_slug}"


# Options the renderer sets itself (or that would put a secret in the pod spec): an
# `extra_args` copy would silently override them, since vLLM's parser keeps the last one.
OWNED_OPTIONS = frozenset(
    {
        "port",
        "host",
        "model",
        "served_model_name",
        "max_model_len",
        "max_num_seqs",
        "shutdown_timeout",
        "middleware",
        "api_key",
        "hf_token",
    }
)


class SimulatedEngine(_Strict):
    """The simulated engine's latency model (docs/engines.md), for ``engine.kind: simulated``."""

    ttft_ms: Annotated[float, Field(ge=0)] = 50.0
    itl_ms: Annotated[float, Field(ge=0)] = 10.0
    prefill_ms_per_token: Annotated[float, Field(ge=0)] = 0.05
    load_factor: Annotated[float, Field(ge=0)] = 1.0
    startup_s: Annotated[float, Field(ge=0)] = 0.0
    output_tokens: Annotated[int, Field(ge=1)] = 128


class Engine(_Strict):
    # vllm on GPU nodes; simulated and reference (CPU) for kind, CI and the local cluster.
    kind: Literal["vllm", "simulated", "reference"] = "vllm"
    simulated: SimulatedEngine = SimulatedEngine()
    max_model_len: Annotated[int, Field(ge=16)] | None = None
    max_num_seqs: Annotated[int, Field(ge=1)] | None = None
    shutdown_timeout_s: Annotated[int, Field(ge=0, le=600)] = 30
    extra_args: list[str] = []

    @field_validator("extra_args")
    @classmethod
    def _vllm_would_run_them(cls, args: list[str]) -> list[str]:
        """Parsed as `vllm serve` parses them, whatever the spelling (``--max_num_seqs``,
        ``--max-num``): unknown options, owned ones and more than one API server fail here,
        not in a crash-looping pod. A ``--config`` file is checked when the pod starts."""
        argv = ["/models/model", *args]
        given = vars(parse_serve_args(argv, read_config=False, only_given=True))
        owned = [option_flags()[dest][0] for dest in sorted(given.keys() & OWNED_OPTIONS)]
        if owned:
            raise ValueError(
                f"{', '.join(owned)} cannot be passed here: use the spec's own field or a Secret"
            )
        check_serve_args(argv, environ={}, read_config=False)
        return args

    @model_validator(mode="after")
    def _extra_args_for_vllm(self) -> Engine:
        if self.extra_args and self.kind != "vllm":
            raise ValueError(
                f"engine.extra_args are `vllm serve` arguments: engine.kind {self.kind} takes none"
            )
        return self


class Gpu(_Strict):
    count: Annotated[int, Field(ge=0, le=16)] = 1
    resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = {}
    tolerate_gpu_taint: bool = True


class Resources(_Strict):
    cpu: Quantity = "4"
    memory: Quantity = "32Gi"
    shm: Quantity = "8Gi"


class Autoscaling(_Strict):
    enabled: bool = True
    engine: Literal["hpa", "keda"] = "hpa"
    # At least 1: the queue metric comes from the pods, so with none nothing could wake them.
    min_replicas: Annotated[int, Field(ge=1)] = 2
    max_replicas: Annotated[int, Field(ge=1)] = 8
    target_waiting_per_pod: Annotated[float, Field(gt=0)] = 5.0
    gpu_utilisation_target: Annotated[int, Field(ge=1, le=100)] | None = None
    cpu_utilisation_target: Annotated[int, Field(ge=1, le=100)] | None = None  # opt-in only
    # Scale-up policy: add up to this many pods, or this percentage, per period (the larger).
    scale_up_pods: Annotated[int, Field(ge=1, le=100)] = 2
    scale_up_percent: Annotated[int, Field(ge=1, le=1000)] = 100
    scale_up_period_s: Annotated[int, Field(ge=1, le=1800)] = 60
    scale_down_stabilisation_s: Annotated[int, Field(ge=0, le=3600)] = 300
    scale_down_pods: Annotated[int, Field(ge=1, le=100)] = 1
    scale_down_period_s: Annotated[int, Field(ge=1, le=1800)] = 120
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.min_replicas must be <= autoscaling.max_replicas")

        return self


class Slo(_Strict):
    """The service level objective, defined once: over every ``window``, the p95 time to first
    token and inter-token latency stay under their bounds and the share of failed requests
    under ``error_ratio``. The one definition: the capacity simulator reads it (``vllm-deploy
    simulate``), and so do the deployment's burn-rate alerts (``observability.slo``)."""

    ttft_p95_s: Annotated[float, Field(gt=0, le=600)] = 2.0
    itl_p95_s: Annotated[float, Field(gt=0, le=60)] = 0.1
    error_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.001
    window: Annotated[str, Field(pattern=r"^[0-9]+(s|m|h|d)$")] = "5m"

    @property
    def window_s(self) -> int:
        return int(self.window[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[self.window[-1]]


class Rollout(_Strict):
    max_surge: Annotated[int, Field(ge=0)] = 1
    max_unavailable: Annotated[int, Field(ge=0)] = 0
    min_ready_seconds: Annotated[int, Field(ge=0)] = 30

    @model_validator(mode="after")
    def _progress(self) -> Rollout:
        if self.max_surge == 0 and self.max_unavailable == 0:
            raise ValueError("rollout.max_surge and rollout.max_unavailable cannot both be 0")
        return self


class Drain(_Strict):
    """The drain before a pod exits. ``timeout_s`` is the drain deadline: set it to the longest
    request you serve. The grace period and the ingress timeouts are derived from it."""

    timeout_s: Annotated[int, Field(ge=1, le=3600)] = DEFAULT_DRAIN_TIMEOUT_S
    quiet_s: Annotated[float, Field(ge=0, le=60)] = 5.0
    margin_s: Annotated[int, Field(ge=5, le=120)] = 10

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "longest_request_s" in data:
            raise ValueError("drain.longest_request_s is now drain.timeout_s (the drain deadline)")
        return data


class Probes(_Strict):
    expected_load_s: Annotated[int, Field(ge=10, le=7200)] = 600
    startup_period_s: Annotated[int, Field(ge=1, le=60)] = 10
    readiness_period_s: Annotated[int, Field(ge=1, le=60)] = 5
    readiness_failure_threshold: Annotated[int, Field(ge=1, le=10)] = 3
    liveness_period_s: Annotated[int, Field(ge=1, le=60)] = 10
    liveness_failure_threshold: Annotated[int, Field(ge=1, le=10)] = 3


class Ingress(_Strict):
    enabled: bool = False
    class_name: str = "nginx"
    host: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")] | None = None
    tls_secret: str | None = None
    body_size: Annotated[str, Field(pattern=r"^[0-9]+[kKmMgG]?$")] = "32m"  # nginx's size syntax

    @model_validator(mode="after")
    def _host(self) -> Ingress:
        if self.enabled and self.host is None:
            raise ValueError("ingress.host is required when ingress.enabled is true")
        return self


class SecretRef(_Strict):
    """A key of an existing Secret: values never go into the spec."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$")]


class Secrets(_Strict):
    api_keys: SecretRef | None = None
    hf_token: SecretRef | None = None
    admin_token: SecretRef | None = None


class Cache(_Strict):
    """Where weights live, and who downloads them (docs/deploy.md, "The model cache").

    ``shared``: one ReadWriteMany PVC, filled once per revision by a download Job; pods mount
    it read-only and wait for the revision's completion marker, never downloading.
    ``node``: a directory on each node (hostPath), filled by the first pod there, under a
    lock. ``ephemeral``: a volume per pod, created and deleted with it; every pod downloads.
    """

    kind: Literal["shared", "node", "ephemeral"] = "shared"
    size: Quantity = "100Gi"
    storage_class: str | None = None
    # Unset: ReadWriteMany for shared (the only mode it accepts), ReadWriteOnce for ephemeral.
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] | None = None
    node_path: Annotated[str, Field(pattern=r"^/.*[^/]$")] = "/var/lib/vllm-deploy/models"
    # The longest a download may take: the Job's deadline, and how long a pod waits for it.
    download_timeout_s: Annotated[int, Field(ge=60, le=86400)] = 900

    @property
    def volume_access_mode(self) -> str:
        default = "ReadWriteMany" if self.kind == "shared" else "ReadWriteOnce"
        return self.access_mode or default

    @model_validator(mode="after")
    def _access_mode_fits_kind(self) -> Cache:
        if self.kind == "shared" and self.volume_access_mode != "ReadWriteMany":
            raise ValueError(
                f"cache.access_mode {self.access_mode} with cache.kind shared: the download Job "
                "writes while every pod reads, on any node; use ReadWriteMany (or leave it unset)"
            )
        if self.kind == "node" and self.access_mode is not None:
            raise ValueError(
                "cache.access_mode applies to a volume claim: cache.kind node uses a directory "
                "on each node (cache.node_path)"
            )
        return self


class Network(_Strict):
    ingress_namespace: str = "ingress-nginx"
    monitoring_namespace: str = "monitoring"


class Observability(_Strict):
    prometheus_operator: bool = True
    # Labels your Prometheus selects PodMonitors and PrometheusRules by (e.g. release: ...).
    monitor_labels: dict[str, str] = {}
    # Alert rules and dashboards are cluster-wide: render them from one spec per cluster.
    rules: bool = False
    dashboards: bool = False
    otlp_endpoint: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_inflight: Annotated[int, Field(ge=0)] = 256
    watchdog_stall_s: Annotated[float, Field(gt=0)] = 180.0


class DeploymentSpec(_Strict):
    """Usage: ``DeploymentSpec.model_validate(yaml.safe_load(text))`` (see docs/deploy.md)."""

    name: Annotated[str, Field(pattern=_DNS_LABEL)]
    namespace: Annotated[str, Field(pattern=_DNS_LABEL)] = "llm"
    # Off by default: a namespace shared by several models must not be owned (and pruned) by one.
    create_namespace: bool = False
    profile: Literal["dev", "prod"] = "prod"
    image: Image = Image()
    model: Model
    engine: Engine = Engine()
    gpu: Gpu = Gpu()
    resources: Resources = Resources()
    replicas: Annotated[int, Field(ge=1, le=100)] = 2
    autoscaling: Autoscaling = Autoscaling()
    slo: Slo = Slo()
    rollout: Rollout = Rollout()
    drain: Drain = Drain()
    probes: Probes = Probes()
    ingress: Ingress = Ingress()
    secrets: Secrets = Secrets()
    cache: Cache = Cache()
    network: Network = Network()
    observability: Observability = Observability()

    @property
    def app_name(self) -> str:
        return f"vllm-{self.name}"

    @model_validator(mode="after")
    def _shared_cache_reachable(self) -> DeploymentSpec:
        most = self.autoscaling.max_replicas if self.autoscaling.enabled else self.replicas
        if self.cache.kind == "shared" and self.cache.access_mode == "ReadWriteOnce" and most > 1:
            raise ValueError(
                "cache.access_mode ReadWriteOnce with cache.kind shared and several replicas: "
                "the volume attaches to one node only; use ReadWriteMany, or cache.kind ephemeral"
            )
        return self

    @property
    def startup_budget_s(self) -> int:
        """The startup probe's budget: the expected load time plus a minute."""
        return self.probes.expected_load_s + 60

    @property
    def grace_period_s(self) -> int:
        """The termination rule: drain deadline + shutdown timeout + margin."""
        return self.drain.timeout_s + self.engine.shutdown_timeout_s + self.drain.margin_s
