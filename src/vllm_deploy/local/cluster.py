"""``vllm-deploy local up``: the API server, the controllers, the kubelet, nginx and
Prometheus on one event loop, with a kubeconfig and ``local.json`` for clients.

A test and rehearsal stand-in for a Kubernetes cluster, not a replacement: what it does not
model is listed in docs/local-cluster.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vllm_deploy.harness import free_port
from vllm_deploy.local.api.aggregated import (
    METRICS_GROUPS,
    aggregated_routes,
    metrics_resource_list,
)
from vllm_deploy.local.apiserver import ApiServerTask
from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.controllers.deployment import DeploymentController
from vllm_deploy.local.controllers.disruption import DisruptionController, Evictions
from vllm_deploy.local.controllers.endpoints import EndpointsController
from vllm_deploy.local.controllers.gc import GarbageCollector
from vllm_deploy.local.controllers.hpa import HpaController
from vllm_deploy.local.controllers.replicaset import ReplicaSetController
from vllm_deploy.local.controllers.scheduler import Scheduler
from vllm_deploy.local.kubelet.admin import admin_routes
from vllm_deploy.local.kubelet.kubelet import Kubelet, NodeShape
from vllm_deploy.local.kubelet.network import PodNetwork
from vllm_deploy.local.nginx import NginxController
from vllm_deploy.local.prometheus import PrometheusController
from vllm_deploy.local.store import Store

__all__ = ["ClusterOptions", "LocalCluster"]

logger = logging.getLogger("vllm_deploy.local")
CONTEXT = "vllm-deploy-local"


@dataclass
class ClusterOptions:
    """Usage: ``ClusterOptions(state_dir=Path("/tmp/c"), nodes=2, gpus_per_node=1)``."""

    state_dir: Path
    nodes: int = 2
    gpus_per_node: int = 1
    node_cpu: str = "16"
    node_memory: str = "64Gi"
    node_labels: dict[str, str] = field(default_factory=dict)
    api_port: int = 0  # 0: a free port
    restart_backoff_s: float = 10.0
    scrape_interval: str | None = None  # None: each PodMonitor endpoint's own
    hpa_sync_s: float = 15.0
    namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public")


class LocalCluster:
    """Usage: ``async with LocalCluster(options) as cluster: cluster.api_url``."""

    def __init__(self, options: ClusterOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.store = Store()
        self.network: PodNetwork | None = None
        self.kubelet: Kubelet | None = None
        self.nginx: NginxController | None = None
        self.prometheus: PrometheusController | None = None
        self.api: ApiServerTask | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._controllers: list[Controller] = []

    @property
    def api_url(self) -> str:
        assert self.api is not None
        return self.api.url

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    async def __aenter__(self) -> LocalCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        opts = self.options
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for ns in opts.namespaces:
            self.store.create(
                KINDS["Namespace"],
                "",
                {
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )
        # The Ingress class this cluster's nginx implements (ingress-nginx's default name).
        self.store.create(
            KINDS["IngressClass"],
            "",
            {
                "metadata": {"name": "nginx"},
                "spec": {"controller": "k8s.io/ingress-nginx"},
            },
        )
        self.network = PodNetwork.create()
        self.kubelet = Kubelet(self.store, self.network, self.state_dir, opts.restart_backoff_s)
        self.kubelet.register_nodes(
            opts.nodes,
            NodeShape(opts.node_cpu, opts.node_memory, opts.gpus_per_node, labels=opts.node_labels),
        )
        self.nginx = NginxController(self.store, self.state_dir / "nginx", free_port)
        self.prometheus = PrometheusController(
            self.store, self.state_dir / "prometheus", free_port(), opts.scrape_interval
        )
        self._controllers = [
            DeploymentController(self.store),
            ReplicaSetController(self.store),
            Scheduler(self.store),
            EndpointsController(self.store),
            GarbageCollector(self.store),
            DisruptionController(self.store),
            self.kubelet,
            self.nginx,
            self.prometheus,
        ]
        hpa = HpaController(self.store, self.prometheus, opts.hpa_sync_s)
        self._controllers.append(hpa)
        evictions = Evictions(self.store)
        metrics = hpa.metrics

        def metrics_resources(group: str, version: str) -> dict[str, Any] | None:
            return metrics_resource_list(metrics, group, version)

        self.api = ApiServerTask(
            self.store,
            opts.api_port or free_port(),
            self.kubelet.read_logs,
            evictions.evict,
            [*admin_routes(self.kubelet), *aggregated_routes(self.store, metrics)],
            (METRICS_GROUPS, metrics_resources),
        )
        await self.api.start()
        await self.nginx.start()
        await self.prometheus.start()
        self._tasks = [asyncio.create_task(c.run(), name=c.name) for c in self._controllers]
        self._write_kubeconfig()
        self._tasks.append(asyncio.create_task(self._keep_info_current()))
        self.write_info()
        logger.info("local cluster up: %s (kubeconfig %s)", self.api_url, self.kubeconfig)

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": CONTEXT,
            "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.api_url}}],
            "users": [{"name": CONTEXT, "user": {}}],
            "contexts": [
                {
                    "name": CONTEXT,
                    "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"},
                }
            ],
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))

    def info(self) -> dict[str, Any]:
        assert self.nginx is not None and self.prometheus is not None and self.network is not None
        return {
            "api": self.api_url,
            "kubeconfig": str(self.kubeconfig),
            "context": CONTEXT,
            "services": self.nginx.listeners(),
            "ingress": f"http://127.0.0.1:{self.nginx.ingress_port}",
            "nginx_access_log": str(self.nginx.access_log),
            "prometheus": self.prometheus.url,
            "logs": str(self.state_dir / "logs"),
            "pod_network": {"bridge": self.network.bridge, "subnet": str(self.network.subnet)},
            "pid": os.getpid(),
        }

    def write_info(self) -> None:
        path = self.state_dir / "local.json"
        text = json.dumps(self.info(), indent=2) + "\n"
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)

    async def _keep_info_current(self) -> None:
        """local.json gains a Service's nginx port as soon as the Service exists."""
        while True:
            await asyncio.sleep(0.5)
            self.write_info()

    async def stop(self) -> None:
        """Stops every pod gracefully, then the rest; the pod network always goes."""
        try:
            try:
                # The controllers first, so that nothing replaces the pods being stopped.
                controllers = [t for t in self._tasks if t.get_name() not in ("kubelet", "nginx")]
                await self._cancel(controllers)
                if self.kubelet is not None:
                    await self.kubelet.shutdown()
            except Exception:  # the processes below must go whatever happened to the pods
                logger.exception("stopping the pods")
            await self._cancel(self._tasks)
            for component in (self.nginx, self.prometheus, self.api):
                if component is not None:
                    try:
                        await component.stop()
                    except Exception:
                        logger.exception("stopping %s", type(component).__name__)
        finally:
            if self.network is not None:
                self.network.close()

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # a task that had failed: say so, and go on stopping
                logger.exception("task %s had failed", task.get_name())

    async def run_until_signal(self) -> None:
        """Serves until SIGINT or SIGTERM, then stops gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with self:
            await stop.wait()
