"""The kubelet of the local cluster's nodes: registers them, runs the pods bound to them.

One kubelet serves every fake node (they share this host): a pod bound to one gets a
PodWorker; a pod being deleted gets its grace period (``deletionGracePeriodSeconds``); a
pod whose object vanished (force deletion) is stopped at once (2 s). When a worker is done
with a deleted pod, the kubelet removes the object (the status manager's final delete).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.kubelet.container import ContainerRunner
from vllm_deploy.local.kubelet.network import PodNetwork
from vllm_deploy.local.kubelet.pod import PodWorker
from vllm_deploy.local.kubelet.probes import exec_in
from vllm_deploy.local.store import Obj, Store, rfc3339

__all__ = ["Kubelet", "NodeShape"]

logger = logging.getLogger("vllm_deploy.local.kubelet")


class NodeShape:
    """What each fake node offers: ``NodeShape(cpu="16", memory="64Gi", gpus=2)``."""

    def __init__(
        self,
        cpu: str = "16",
        memory: str = "64Gi",
        gpus: int = 0,
        gpu_resource: str = "nvidia.com/gpu",
        labels: dict[str, str] | None = None,
    ) -> None:
        self.cpu, self.memory, self.gpus, self.gpu_resource = cpu, memory, gpus, gpu_resource
        self.labels = labels or {}


class Kubelet(Controller):
    name = "kubelet"
    watches = frozenset({"Pod", "ConfigMap", "Secret"})

    def __init__(
        self, store: Store, network: PodNetwork, state_dir: Path, backoff_base_s: float = 10.0
    ) -> None:
        super().__init__(store)
        self.network = network
        self.state_dir = state_dir
        self.claims_dir = state_dir / "persistentvolumeclaims"
        self.logs_dir = state_dir / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.backoff_base_s = backoff_base_s
        self.nodes: set[str] = set()
        self.workers: dict[str, PodWorker] = {}  # pod uid -> worker
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.stopping = False

    def register_nodes(self, count: int, shape: NodeShape) -> None:
        for i in range(count):
            name = f"node-{i}"
            capacity = {
                "cpu": shape.cpu,
                "memory": shape.memory,
                "pods": "110",
                "ephemeral-storage": "100Gi",
            }
            if shape.gpus:
                capacity[shape.gpu_resource] = str(shape.gpus)
            now = rfc3339(self.store.now())
            self.store.create(
                KINDS["Node"],
                "",
                {
                    "metadata": {
                        "name": name,
                        "labels": {
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            **shape.labels,
                        },
                    },
                    "spec": {},
                    "status": {
                        "capacity": capacity,
                        "allocatable": dict(capacity),
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "KubeletReady",
                                "message": "kubelet is posting ready status",
                                "lastHeartbeatTime": now,
                                "lastTransitionTime": now,
                            }
                        ],
                        "addresses": [
                            {"type": "InternalIP", "address": self.network.gateway},
                            {"type": "Hostname", "address": name},
                        ],
                        "nodeInfo": {
                            "architecture": "amd64",
                            "bootID": "",
                            "containerRuntimeVersion": "local://process",
                            "kernelVersion": os.uname().release,
                            "kubeProxyVersion": "",
                            "kubeletVersion": "v1.32.0",
                            "machineID": "",
                            "operatingSystem": "linux",
                            "osImage": "vllm-deploy local",
                            "systemUUID": name,
                        },
                    },
                },
            )
            self.nodes.add(name)

    def log_path(self, namespace: str, pod: str, container: str, restart: int) -> Path:
        return self.logs_dir / f"{namespace}_{pod}_{container}.{restart}.log"

    def read_logs(
        self, namespace: str, pod: str, container: str | None, tail: int | None, previous: bool
    ) -> str:
        """The API's pods/log: the container's current (or previous) run."""
        if container is None:
            live = self.store.peek(KINDS["Pod"], namespace, pod)
            containers = (live or {}).get("spec", {}).get("containers") or [{}]
            container = containers[0].get("name", "")
        runs = sorted(
            self.logs_dir.glob(f"{namespace}_{pod}_{container}.*.log"),
            key=lambda p: int(p.suffixes[-2][1:]),
        )
        if previous:
            runs = runs[:-1]
        if not runs:
            return ""
        lines = runs[-1].read_text(errors="replace").splitlines(keepends=True)
        return "".join(lines[-tail:] if tail else lines)

    def _runner(
        self, namespace: str, pod: str, container: str | None
    ) -> tuple[PodWorker, ContainerRunner]:
        worker = next(
            (w for w in self.workers.values() if (w.namespace, w.name) == (namespace, pod)), None
        )
        if worker is None:
            raise ApiError(404, "NotFound", f'pod "{pod}" is not running on this node')
        runners = worker.runners
        runner = next((r for r in runners if container is None or r.name == container), None)
        if runner is None:
            raise ApiError.bad_request(f"container {container!r} is not in pod {pod}")
        return worker, runner

    def signal(self, namespace: str, pod: str, container: str | None, sig: signal.Signals) -> int:
        """Sends ``sig`` to a container's process; its pid."""
        _, runner = self._runner(namespace, pod, container)
        proc = runner.proc
        if proc is None or proc.returncode is not None:
            raise ApiError(409, "Conflict", f"container {runner.name} of pod {pod} is not running")
        os.kill(proc.pid, sig)
        return proc.pid

    async def exec(
        self, namespace: str, pod: str, container: str | None, argv: list[str], timeout_s: float
    ) -> tuple[int | None, str]:
        """Runs ``argv`` in the pod's network namespace with the container's environment."""
        worker, runner = self._runner(namespace, pod, container)
        env, _, cwd = worker.command_of(runner.spec)
        return await exec_in(worker.netns, argv, env, cwd, timeout_s)

    def reconcile(self) -> None:
        if self.stopping:
            return
        seen = set()
        for pod in self.objects("Pod"):
            if pod["spec"].get("nodeName") not in self.nodes:
                continue
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            worker = self.workers.get(uid)
            if worker is None:
                if pod["status"].get("phase") in ("Succeeded", "Failed"):
                    continue
                if pod["metadata"].get("deletionTimestamp"):
                    self._remove(pod)  # never started: nothing to stop
                    continue
                self._start(pod)
            elif pod["metadata"].get("deletionTimestamp"):
                worker.terminate(float(pod["metadata"].get("deletionGracePeriodSeconds", 30)))
        for uid, worker in list(self.workers.items()):
            if uid not in seen and not worker.terminating:
                worker.terminate(0)  # force-deleted: the minimum window

    def _start(self, pod: Obj) -> None:
        worker = PodWorker(self, pod)
        self.workers[worker.uid] = worker
        self._tasks[worker.uid] = asyncio.create_task(worker.run(), name=f"pod {worker.key}")

    def finished(self, worker: PodWorker) -> None:
        """A worker ended: a deleted pod's object goes; a completed one stays."""
        self.workers.pop(worker.uid, None)
        self._tasks.pop(worker.uid, None)
        pod = self.store.peek(KINDS["Pod"], worker.namespace, worker.name)
        if (
            pod is not None
            and pod["metadata"]["uid"] == worker.uid
            and pod["metadata"].get("deletionTimestamp")
        ):
            self._remove(pod)

    def _remove(self, pod: Obj) -> None:
        self.store.delete(
            KINDS["Pod"], pod["metadata"]["namespace"], pod["metadata"]["name"], grace_period_s=0
        )

    async def shutdown(self, grace_s: float | None = None) -> None:
        """Stops every pod gracefully (each with its own grace period unless ``grace_s``);
        no pod starts any more."""
        self.stopping = True
        for worker in list(self.workers.values()):
            worker.terminate(
                grace_s
                if grace_s is not None
                else float(worker.pod["spec"].get("terminationGracePeriodSeconds", 30))
            )
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
