"""One pod on a local node: sandbox (network namespace, volumes), init containers, the
containers, the pod's status, and its termination.

Phases and conditions as the kubelet reports them (pkg/kubelet/kubelet_pods.go
``generateAPIPodStatus``, pkg/kubelet/status/generate.go): Pending until the containers
have started, Running while restartPolicy restarts them, Succeeded or Failed when they all
ended for good; ``PodReadyToStartContainers`` once the sandbox exists, ``Initialized`` once
the init containers succeeded, ``ContainersReady`` and ``Ready`` when every container is
ready. When the pod is deleted, each container is killed (preStop, SIGTERM, SIGKILL after
the grace period) and, once all have stopped, the kubelet removes the pod object.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vllm_deploy.local.aio import wait_until
from vllm_deploy.local.controllers.base import KINDS, record_event
from vllm_deploy.local.kubelet.container import ContainerRunner
from vllm_deploy.local.kubelet.environment import container_env, expand
from vllm_deploy.local.kubelet.network import NetworkError
from vllm_deploy.local.kubelet.volumes import Mounts, materialise_volumes, remove_pod_dir
from vllm_deploy.local.store import Obj, rfc3339

if TYPE_CHECKING:
    from vllm_deploy.local.kubelet.kubelet import Kubelet

__all__ = ["PodWorker"]

logger = logging.getLogger("vllm_deploy.local.kubelet")
# The image's entrypoint (the Dockerfile's ENTRYPOINT) when a container names no command.
IMAGE_ENTRYPOINT = ["vllm-deploy"]


class PodWorker:
    """Usage: ``worker = PodWorker(kubelet, pod)``; ``task = create_task(worker.run())``."""

    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.kubelet = kubelet
        self.pod = copy.deepcopy(pod)
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.key = f"{self.namespace}/{self.name}"
        self.netns = ""
        self.pod_ip = ""
        self.terminating = False
        self.initialized = False
        self.sandbox_ready = False
        self.init_runners: list[ContainerRunner] = []
        self.runners: list[ContainerRunner] = []
        self.pre_stop: dict[str, tuple[bool, str]] = {}
        self._terminate = asyncio.Event()
        self._grace: float = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        self._volume_dirs: dict[str, Path] = {}
        self._dir = kubelet.state_dir / "pods" / self.uid
        self._status_pending = False

    # -- what containers ask of their pod ------------------------------------------------------

    def now(self) -> float:
        return self.kubelet.store.now()

    def event(self, kind: str, reason: str, message: str) -> None:
        pod = self.kubelet.store.peek(KINDS["Pod"], self.namespace, self.name)
        record_event(self.kubelet.store, pod or self.pod, kind, reason, message, "kubelet")

    def pre_stop_result(self, container: str, ok: bool, message: str) -> None:
        self.pre_stop[container] = (ok, message)

    def probe_restart(self, container: str, probe: str) -> None:
        logger.info("%s: container %s failed its %s probe", self.key, container, probe)

    def _lookup(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.kubelet.store.peek(KINDS[kind], namespace, name)

    def _base_env(self) -> dict[str, str]:
        bin_dir = os.path.dirname(sys.executable)
        return {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOSTNAME": self.name,
            "HOME": "/root",
        }

    def command_of(self, container: Obj) -> tuple[dict[str, str], list[str], str | None]:
        """(environment, argv, working directory) with $(VAR) expanded and mounts rewritten."""
        mounts = Mounts(container, self._volume_dirs)
        # Only the container's own values name paths inside it (a mount's path becomes its
        # volume's directory); the base PATH names this host's directories, which may lie
        # under a mount path such as /tmp.
        declared = container_env(self._live_pod(), container, self._lookup)
        env = {**self._base_env(), **{k: mounts.rewrite(v) for k, v in declared.items()}}
        argv = self.rewrite(
            container,
            [*(container.get("command") or IMAGE_ENTRYPOINT), *(container.get("args") or [])],
            env,
        )
        cwd = (
            mounts.rewrite(container["workingDir"])
            if container.get("workingDir")
            else str(self._dir)
        )
        return env, argv, cwd

    def rewrite(self, container: Obj, argv: list[str], env: dict[str, str]) -> list[str]:
        return Mounts(container, self._volume_dirs).rewrite_all([expand(a, env) for a in argv])

    def _live_pod(self) -> Obj:
        return self.kubelet.store.peek(KINDS["Pod"], self.namespace, self.name) or self.pod

    # -- lifecycle -------------------------------------------------------------------------------

    def terminate(self, grace_s: float) -> None:
        """The pod is being deleted: stop every container within ``grace_s``."""
        self._grace = min(self._grace, grace_s) if self.terminating else grace_s
        self.terminating = True
        self._terminate.set()
        for runner in [*self.init_runners, *self.runners]:
            runner.stop(self._grace)

    async def run(self) -> None:
        try:
            await self._run()
        except NetworkError as exc:
            self.event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            logger.error("%s: %s", self.key, exc)
        finally:
            await self._cleanup()

    async def _run(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self.netns, self.pod_ip = self.kubelet.network.add(self.uid)
        self.sandbox_ready = True
        self._write_status()
        while not self._terminate.is_set():
            try:
                self._volume_dirs = materialise_volumes(
                    self._live_pod(), self._dir, self.kubelet.claims_dir, self._lookup
                )
                break
            except ValueError as exc:
                self.event("Warning", "FailedMount", f"MountVolume.SetUp failed: {exc}")
                await wait_until(self._terminate.wait(), 2.0)
        for spec in self.pod["spec"].get("initContainers") or []:
            if self._terminate.is_set():
                return
            runner = ContainerRunner(self, spec, init=True)
            self.init_runners.append(runner)
            await runner.run()
            if runner.exit_code != 0:
                return
        self.initialized = True
        self.runners = [
            ContainerRunner(self, spec) for spec in self.pod["spec"].get("containers") or []
        ]
        if self._terminate.is_set():
            return
        tasks = [asyncio.create_task(r.run()) for r in self.runners]
        refresh = asyncio.create_task(self._refresh_volumes())
        try:
            await asyncio.gather(*tasks)
        finally:
            refresh.cancel()
        self._write_status()

    async def _refresh_volumes(self) -> None:
        """The kubelet's periodic sync rewrites configMap and secret volumes when they change."""
        while True:
            await asyncio.sleep(2.0)
            with contextlib.suppress(ValueError):
                self._volume_dirs = materialise_volumes(
                    self._live_pod(), self._dir, self.kubelet.claims_dir, self._lookup
                )

    async def _cleanup(self) -> None:
        for runner in [*self.init_runners, *self.runners]:
            if runner.proc is not None and runner.proc.returncode is None:
                await runner.kill(2.0)
        self.kubelet.network.remove(self.uid)
        remove_pod_dir(self._dir / "volumes")
        self._write_status()
        self.kubelet.finished(self)

    # -- status ----------------------------------------------------------------------------------

    def status_changed(self) -> None:
        """Coalesces status writes made in one event-loop turn."""
        if not self._status_pending:
            self._status_pending = True
            asyncio.get_running_loop().call_soon(self._write_status)

    def _phase(self) -> str:
        if not self.initialized:
            failed_init = any(r.exit_code not in (None, 0) for r in self.init_runners)
            policy = self.pod["spec"].get("restartPolicy", "Always")
            return "Failed" if failed_init and policy == "Never" else "Pending"
        states = [r.state for r in self.runners]
        if any("running" in s for s in states):
            return "Running"
        policy = self.pod["spec"].get("restartPolicy", "Always")
        if all("terminated" in s for s in states) and (policy != "Always" or self.terminating):
            codes = [s["terminated"]["exitCode"] for s in states]
            return "Succeeded" if all(c == 0 for c in codes) else "Failed"
        if any(r.restart_count or "terminated" in r.state for r in self.runners):
            return "Running"
        return "Pending"

    def _write_status(self) -> None:
        self._status_pending = False
        pod = self.kubelet.store.peek(KINDS["Pod"], self.namespace, self.name)
        if pod is None or pod["metadata"]["uid"] != self.uid:
            return
        old = pod.get("status") or {}
        phase = self._phase()
        ready = bool(self.runners) and all(r.ready for r in self.runners) and phase == "Running"
        containers = [r.status() for r in self.runners] or [
            {
                "name": c["name"],
                "state": {
                    "waiting": {
                        "reason": "PodInitializing" if self.init_runners else "ContainerCreating"
                    }
                },
                "ready": False,
                "restartCount": 0,
                "image": c.get("image", ""),
                "imageID": "",
                "started": False,
            }
            for c in self.pod["spec"].get("containers") or []
        ]
        wanted = {
            "PodReadyToStartContainers": self.sandbox_ready,
            "Initialized": self.initialized,
            "ContainersReady": ready,
            "Ready": ready,
        }
        previous = {c["type"]: c for c in old.get("conditions") or []}
        now = rfc3339(self.now())
        conditions = [c for c in old.get("conditions") or [] if c["type"] == "PodScheduled"]
        for kind, value in wanted.items():
            text = "True" if value else "False"
            before = previous.get(kind)
            changed = before is None or before["status"] != text
            cond: dict[str, Any] = {
                "type": kind,
                "status": text,
                "lastProbeTime": None,
                "lastTransitionTime": now
                if changed or before is None
                else before["lastTransitionTime"],
            }
            if not value and kind in ("Ready", "ContainersReady"):
                unready = [r.name for r in self.runners if not r.ready]
                cond.update(
                    reason="ContainersNotReady",
                    message=f"containers with unready status: {unready}",
                )
            conditions.append(cond)
        status: dict[str, Any] = {
            **old,
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": containers,
            "qosClass": old.get("qosClass", "Burstable"),
        }
        if self.init_runners or self.pod["spec"].get("initContainers"):
            status["initContainerStatuses"] = [r.status() for r in self.init_runners]
        if self.pod_ip:
            status.update(
                podIP=self.pod_ip,
                podIPs=[{"ip": self.pod_ip}],
                hostIP=self.kubelet.network.gateway,
                hostIPs=[{"ip": self.kubelet.network.gateway}],
            )
        status.setdefault("startTime", now)
        if status != old:
            new = copy.deepcopy(pod)
            new["status"] = status
            self.kubelet.store.update(KINDS["Pod"], self.namespace, new, subresource="status")
