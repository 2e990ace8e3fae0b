"""What one simulation runs: the deployment as rendered from the spec, the cluster, the SLO.

The pod's timings are read from the objects ``vllm-deploy render`` writes, not restated:
the Deployment's startup and readiness probes, CPU request and drain timings, the
PodMonitor's scrape interval, the middleware's admission limit. What the cluster adds
(GPUs, nodes, endpoint propagation) comes from flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vllm_deploy.autoscale.quantity import milli
from vllm_deploy.render import cache, monitoring, workload
from vllm_deploy.sim.profile import EngineProfile
from vllm_deploy.spec.models import DeploymentSpec, Slo

__all__ = ["Cluster", "PodTemplate", "SimSetup", "setup_from_spec"]


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """One replica as rendered: engine limits, probes, drain, resources."""

    gpus: int
    max_num_seqs: int
    kv_cache_tokens: int
    max_model_len: int
    max_inflight: int  # the middleware's admission limit; 0 = none
    cpu_request: float  # cores
    startup_period_s: float
    startup_failure_threshold: int
    readiness_period_s: float
    drain_deadline_s: float
    drain_quiet_s: float
    shutdown_timeout_s: float
    # Who downloads the weights (render.cache.KINDS, from the spec's cache.kind): "job" (a
    # shared cache, filled before the pods start), "first-pod-on-node", "every-pod"; "never"
    # when the weights are a path on the volume.
    downloads: str


@dataclass(frozen=True, slots=True)
class Cluster:
    gpus: int
    gpus_per_node: int = 8
    scrape_interval_s: float = 15.0
    metric_delay_s: float = 0.0  # rule/adapter delay on top of the scrape's age
    sync_period_s: float = 15.0  # --horizontal-pod-autoscaler-sync-period
    # The HPA's first sync: its clock is not the trace's (on a cluster, the controller
    # syncs every period from when it started); 0 <= first_sync_s < sync_period_s.
    first_sync_s: float = 0.0
    lb_delay_s: float = 1.0  # endpoint changes reach the load balancer after this long
    schedule_delay_s: float = 1.0  # pod created -> bound to a node with a free GPU


@dataclass(frozen=True, slots=True)
class SimSetup:
    template: PodTemplate
    cluster: Cluster
    profile: EngineProfile
    slo: Slo
    min_replicas: int
    max_replicas: int


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _duration_s(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


def setup_from_spec(
    spec: DeploymentSpec,
    profile: EngineProfile,
    *,
    gpus: int | None = None,
    gpus_per_node: int = 8,
    lb_delay_s: float = 1.0,
    metric_delay_s: float = 0.0,
    slo: Slo | None = None,
) -> SimSetup:
    """Usage: ``setup_from_spec(load_spec(path), load_profile("llama-3.1-8b-h100"))``."""
    deployment = workload.deployment(spec)
    container = _container(deployment)
    startup, readiness = container["startupProbe"], container["readinessProbe"]
    a = spec.autoscaling
    low, high = (a.min_replicas, a.max_replicas) if a.enabled else (spec.replicas, spec.replicas)
    interval = "15s"
    if spec.observability.prometheus_operator:
        interval = monitoring.pod_monitor(spec)["spec"]["podMetricsEndpoints"][0].get(
            "interval", "15s"
        )
    template = PodTemplate(
        gpus=max(1, spec.gpu.count, profile.gpus_per_pod),
        max_num_seqs=spec.engine.max_num_seqs or profile.max_num_seqs,
        kv_cache_tokens=profile.kv_cache_tokens,
        max_model_len=spec.engine.max_model_len or 8192,
        max_inflight=spec.observability.max_inflight,
        cpu_request=milli(container["resources"]["requests"]["cpu"]) / 1000,
        startup_period_s=float(startup["periodSeconds"]),
        startup_failure_threshold=int(startup["failureThreshold"]),
        readiness_period_s=float(readiness["periodSeconds"]),
        drain_deadline_s=float(spec.drain.timeout_s),
        drain_quiet_s=spec.drain.quiet_s,
        shutdown_timeout_s=float(spec.engine.shutdown_timeout_s),
        downloads=cache.KINDS[spec.cache.kind].downloads if spec.model.huggingface else "never",
    )
    cluster = Cluster(
        gpus=gpus if gpus is not None else high * template.gpus,
        gpus_per_node=gpus_per_node,
        scrape_interval_s=_duration_s(interval),
        metric_delay_s=metric_delay_s,
        lb_delay_s=lb_delay_s,
    )
    return SimSetup(template, cluster, profile, slo or spec.slo, low, high)
