"""``vllm-deploy rehearse``: a scenario on the local cluster, under load, with a report.

The runner starts a local cluster (or uses a running one through its kubeconfig), applies
the rendered spec with server-side apply, waits for the rollout, drives streamed load
through the Service's nginx port while the scenario acts, and reports what the clients,
nginx's access log, the pods and the Deployment saw. Cluster state is read with the official
``kubernetes`` client.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from vllm_deploy.kube.apply import apply_objects
from vllm_deploy.kube.rollout import RolloutFailed, wait_for_rollout
from vllm_deploy.local.cluster import ClusterOptions, LocalCluster
from vllm_deploy.local.rehearse.checks import CHECKS
from vllm_deploy.local.rehearse.load import Load, summarise
from vllm_deploy.local.rehearse.observe import ClusterObserver
from vllm_deploy.local.rehearse.scenarios import SCENARIOS, ScenarioContext
from vllm_deploy.render import render
from vllm_deploy.render.common import HTTP_PORT, selector_labels
from vllm_deploy.sim.trace import Trace
from vllm_deploy.spec import DeploymentSpec

__all__ = ["RehearsalOptions", "rehearse"]


@dataclass
class RehearsalOptions:
    """Usage: ``await rehearse(RehearsalOptions("rollout", spec))``."""

    scenario: str
    spec: DeploymentSpec
    requests: int = 2000
    concurrency: int = 16
    max_tokens: int = 32
    kubeconfig: Path | None = None  # a running local cluster's; None: start one
    state_dir: Path | None = None
    nodes: int | None = None  # None: what the scenario needs (needed_nodes)
    gpus_per_node: int = 1
    replicas: int | None = None  # a fixed fleet of this many, without the autoscaler
    hpa_sync_s: float = 15.0
    burst_s: float = 60.0
    settle_s: float = 180.0
    timeout_s: float = 300.0
    trace: Trace | None = None  # burst: open-loop arrivals (vllm_deploy.sim.trace)


def fixed_fleet(spec: DeploymentSpec, replicas: int) -> DeploymentSpec:
    """The spec with ``replicas`` and no autoscaler: the scenario measures the Deployment alone."""
    data = spec.model_dump()
    data["replicas"] = replicas
    data["autoscaling"]["enabled"] = False
    return DeploymentSpec.model_validate(data)


def needed_nodes(spec: DeploymentSpec, scenario: str, gpus_per_node: int) -> int:
    """Fake nodes for a scenario: GPUs for every pod a rollout can run at once (the most
    replicas plus maxSurge); for ``burst``, one pod's GPUs short of the autoscaler's maximum,
    so that the scale-out meets a full cluster and the last pod stays Pending."""
    if spec.gpu.count == 0 or gpus_per_node == 0:
        return 2
    most = spec.autoscaling.max_replicas if spec.autoscaling.enabled else spec.replicas
    if scenario == "burst" and spec.autoscaling.enabled:
        pods = max(most - 1, spec.autoscaling.min_replicas)
    else:
        surge = spec.rollout.max_surge
        pods = most + (surge if isinstance(surge, int) else math.ceil(most * int(surge[:-1]) / 100))
    return max(1, math.ceil(pods * spec.gpu.count / gpus_per_node))


def _timings(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "replicas": spec.replicas,
        "drain_timeout_s": spec.drain.timeout_s,
        "drain_quiet_s": spec.drain.quiet_s,
        "shutdown_timeout_s": spec.engine.shutdown_timeout_s,
        "grace_period_s": spec.grace_period_s,
        "min_ready_seconds": spec.rollout.min_ready_seconds,
        "max_surge": spec.rollout.max_surge,
        "max_unavailable": spec.rollout.max_unavailable,
        "readiness_period_s": spec.probes.readiness_period_s,
        "readiness_failure_threshold": spec.probes.readiness_failure_threshold,
        "liveness_period_s": spec.probes.liveness_period_s,
        "liveness_failure_threshold": spec.probes.liveness_failure_threshold,
        "watchdog_stall_s": spec.observability.watchdog_stall_s,
        "autoscaling": spec.autoscaling.model_dump() if spec.autoscaling.enabled else None,
    }


def _nginx(log: Path, listener: str, since: float) -> dict[str, Any]:
    """What nginx's access log says about the rehearsal's requests (after ``since``)."""
    statuses: Counter[str] = Counter()
    upstream_failures: list[dict[str, Any]] = []
    if log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("listener") != listener or not entry.get("uri", "").startswith("/v1/"):
                continue
            if float(entry["msec"]) < since:
                continue
            statuses[str(entry["status"])] += 1
            if entry["status"] >= 500 or entry["status"] == 499:
                upstream_failures.append(
                    {k: entry.get(k) for k in ("time", "status", "upstream", "upstream_status")}
                )
    return {
        "total": sum(statuses.values()),
        "by_status": dict(sorted(statuses.items())),
        "5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "499": statuses.get("499", 0),
        "failures": upstream_failures[:50],
    }


def _drains(logs_dir: Path, namespace: str, pod: str) -> list[dict[str, Any]]:
    """The middleware's "drain ended" lines in every run of the pod's server."""
    out = []
    for path in sorted(logs_dir.glob(f"{namespace}_{pod}_vllm.*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if '"drain ended"' in line:
                entry = json.loads(line)
                out.append(
                    {
                        k: entry.get(k)
                        for k in ("drained", "reason", "in_flight", "duration_seconds")
                    }
                )
    return out


def _pending(core: client.CoreV1Api, namespace: str) -> str:
    """Why pods are Pending, as the scheduler said it (empty when none is)."""
    pods = core.api_client.sanitize_for_serialization(core.list_namespaced_pod(namespace).items)
    reasons = {
        f"; pod {p['metadata']['name']} Pending: {c.get('message')}"
        for p in pods
        for c in (p.get("status") or {}).get("conditions") or []
        if c["type"] == "PodScheduled" and c["status"] == "False"
    }
    return "".join(sorted(reasons))


async def _terminations_seen(observer: ClusterObserver, timeout_s: float) -> None:
    """Until every pod being deleted has gone (its exit is in the watch), or timeout_s: a
    rollout is complete while its old pods still drain."""
    await asyncio.sleep(1)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pending = [
            p
            for p in observer.pods.values()
            if p.deletion_deadline is not None and p.deleted is None
        ]
        if not pending:
            return
        await asyncio.sleep(0.5)


async def rehearse(options: RehearsalOptions) -> dict[str, Any]:
    """Runs the scenario and returns the report (``passed`` says whether its checks hold)."""
    if options.scenario not in SCENARIOS:
        raise ValueError(
            f"scenario has value {options.scenario!r}: expected one of {sorted(SCENARIOS)}"
        )
    if options.trace is not None and options.scenario != "burst":
        raise ValueError(f"a trace drives the burst scenario only, not {options.scenario!r}")
    spec = options.spec if options.replicas is None else fixed_fleet(options.spec, options.replicas)
    nodes = options.nodes or needed_nodes(spec, options.scenario, options.gpus_per_node)
    async with AsyncExitStack() as stack:
        if options.kubeconfig is None:
            # Kept afterwards: the report points at its logs and nginx's access log.
            state = options.state_dir or Path(tempfile.mkdtemp(prefix="vd-rehearse-"))
            cluster = LocalCluster(
                ClusterOptions(
                    state_dir=state,
                    nodes=nodes,
                    gpus_per_node=options.gpus_per_node,
                    scrape_interval="1s",
                    hpa_sync_s=options.hpa_sync_s,
                    restart_backoff_s=10.0,
                )
            )
            await stack.enter_async_context(cluster)
            kubeconfig, info = cluster.kubeconfig, cluster.info()
        else:
            kubeconfig = options.kubeconfig
            info = json.loads((kubeconfig.parent / "local.json").read_text())
        api = await asyncio.to_thread(config.new_client_from_config, str(kubeconfig))
        return await _run(options, spec, api, info)
    raise AssertionError("unreachable")


async def _run(
    options: RehearsalOptions, spec: DeploymentSpec, api: client.ApiClient, info: dict[str, Any]
) -> dict[str, Any]:
    ns, app = spec.namespace, spec.app_name
    core = client.CoreV1Api(api)
    try:
        await asyncio.to_thread(
            core.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
        )
    except client.ApiException as exc:
        if exc.status != 409:
            raise

    async def apply_spec(new_spec: DeploymentSpec) -> None:
        objects = [o for objs in render(new_spec).values() for o in objs]
        await asyncio.to_thread(apply_objects, api, objects)

    async def wait_rollout() -> None:
        try:
            await asyncio.to_thread(wait_for_rollout, api, ns, app, options.timeout_s)
        except RolloutFailed as exc:
            raise RolloutFailed(f"{exc}{await asyncio.to_thread(_pending, core, ns)}") from None

    await apply_spec(spec)
    await wait_rollout()
    # With an autoscaler the Deployment starts at 1 replica until its first sync: wait for
    # the minimum, so that the scenario acts on the fleet it is meant to.
    floor = spec.autoscaling.min_replicas if spec.autoscaling.enabled else spec.replicas
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + options.timeout_s
    while time.monotonic() < deadline:
        d = await asyncio.to_thread(apps.read_namespaced_deployment, app, ns)
        if d.status is not None and (d.status.available_replicas or 0) >= floor:
            break
        await asyncio.sleep(0.5)
    await wait_rollout()
    listener = f"{ns}/{app}:{HTTP_PORT}"
    for _ in range(100):  # the Service's nginx port is in local.json once nginx has it
        if listener in info.get("services", {}):
            break
        await asyncio.sleep(0.1)
        info = json.loads(Path(info["kubeconfig"]).with_name("local.json").read_text())
    url = info["services"][listener]
    selector = ",".join(f"{k}={v}" for k, v in selector_labels(spec).items())
    load = Load(
        url, spec.model.name, options.max_tokens, retries=2 if options.scenario == "kill" else 0
    )
    # One clock for the report: seconds since the load began (pods, requests, nginx, events).
    started = load.started_wall
    observer = ClusterObserver(api, ns, app, selector, begin=started)
    observer.start()
    # A scenario acts on the pods it sees: not before the observer has listed them.
    await asyncio.to_thread(observer.listed.wait, 30)
    ctx = ScenarioContext(
        spec,
        load,
        observer,
        info["api"],
        options.requests,
        options.concurrency,
        apply_spec,
        wait_rollout,
        burst_s=options.burst_s,
        settle_s=options.settle_s,
        trace=options.trace,
    )
    try:
        await SCENARIOS[options.scenario](ctx)
        await _terminations_seen(observer, spec.grace_period_s + 10)
    finally:
        observer.stop()
    revisions = await asyncio.to_thread(observer.revisions)
    logs_dir = Path(info["logs"])
    pods = []
    for life in observer.pods.values():
        entry = life.as_dict(revisions)
        entry["drains"] = _drains(logs_dir, ns, life.name)
        entry["events"] = await asyncio.to_thread(observer.events, life.name)
        pods.append(entry)
    report = {
        "scenario": options.scenario,
        "started": started,
        "duration_s": round(time.time() - started, 2),
        "spec": spec.name,
        "timings": _timings(spec),
        "requests": summarise(load.records),
        "records": [r.as_dict() for r in load.records],
        "pods": sorted(pods, key=lambda p: (p["created"] or 0, p["name"])),
        "replicas_timeline": observer.timeline,
        "hpa_timeline": observer.hpa_timeline,
        "events": ctx.events,
        "nginx_access_log": info["nginx_access_log"],
        "logs": info["logs"],
        "nginx": _nginx(Path(info["nginx_access_log"]), listener, started),
    }
    if options.trace is not None:
        trace = options.trace
        report["trace"] = {
            "name": trace.name,
            "requests": len(trace),
            "duration_s": trace.duration_s,
            "steps": trace.steps,
        }
    if options.kubeconfig is None:  # the cluster this run started: its timings are known
        report["hpa_sync_s"], report["scrape_interval_s"] = options.hpa_sync_s, 1.0
    nodes = (await asyncio.to_thread(core.list_node)).items
    report["nodes"] = len(nodes)
    report["gpus_in_cluster"] = sum(
        int(((n.status.allocatable if n.status else None) or {}).get(spec.gpu.resource, "0"))
        for n in nodes
    )
    report["checks"] = CHECKS[options.scenario](report, spec, load.records)
    report["passed"] = all(c["passed"] for c in report["checks"])
    return report
