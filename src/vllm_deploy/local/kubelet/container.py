"""One container of a pod: its process, probes, hooks, restarts and status.

The container runs as a process in the pod's network namespace (``ip netns exec``), its
output appended to a log file per start. Termination is the kubelet's ``killContainer``
(pkg/kubelet/kuberuntime/kuberuntime_container.go): the preStop hook first, bounded by the
grace period, whose elapsed time is subtracted; then SIGTERM, at least 2 s more, SIGKILL.
A liveness or startup failure kills it the same way (the probe's own
``terminationGracePeriodSeconds`` when set) and it restarts. Restarts follow
``restartPolicy`` with the kubelet's back-off: the first restart at once, then 10 s,
doubling to 300 s, reset after 10 minutes of running (pkg/kubelet: backOffPeriod,
MaxContainerBackOff).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from vllm_deploy.local.aio import wait_until
from vllm_deploy.local.kubelet.probes import ProbeState, exec_in, run_probe
from vllm_deploy.local.store import rfc3339

if TYPE_CHECKING:
    from vllm_deploy.local.kubelet.pod import PodWorker

__all__ = ["ContainerRunner"]

logger = logging.getLogger("vllm_deploy.local.kubelet")
MAX_BACKOFF_S = 300.0
BACKOFF_RESET_S = 600.0
_MIN_GRACE_S = 2.0  # "always give containers a minimal shutdown window"


class ContainerRunner:
    """Usage: ``runner = ContainerRunner(worker, container)``; ``await runner.run()``."""

    def __init__(self, worker: PodWorker, container: dict[str, Any], init: bool = False) -> None:
        self.worker, self.spec, self.init = worker, container, init
        self.name: str = container["name"]
        self.restart_count = 0
        self.state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict[str, Any] = {}
        self.ready = False
        self.started = False
        self.proc: asyncio.subprocess.Process | None = None
        self._stop = asyncio.Event()
        self._stop_grace: float | None = None
        self._killed_for: str | None = None
        self._backoff = 0.0
        self.exit_code: int | None = None
        # The running process's environment and working directory (preStop runs with them).
        self._run_env: dict[str, str] | None = None
        self._run_cwd: str | None = None

    # -- status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "started": self.started,
        }
        if self.proc is not None:
            status["containerID"] = f"local://{self.worker.key}/{self.name}/{self.restart_count}"
        if self.init:
            status.pop("started")
        return status

    def _changed(self) -> None:
        self.worker.status_changed()

    # -- lifecycle ------------------------------------------------------------------------------

    def stop(self, grace_s: float) -> None:
        """Terminate (pod deletion): preStop, SIGTERM, SIGKILL after ``grace_s``."""
        self._stop_grace = grace_s if self._stop_grace is None else min(self._stop_grace, grace_s)
        self._stop.set()

    async def run(self) -> None:
        """Runs (and restarts) the container until stopped; for init containers, until done."""
        policy = self.worker.pod["spec"].get("restartPolicy", "Always")
        while not self._stop.is_set():
            if self.restart_count:
                await self._wait_backoff()
                if self._stop.is_set():
                    break
            started_at = time.monotonic()
            exit_code = await self._run_once()
            if self._stop.is_set():
                break
            ran = time.monotonic() - started_at
            if self.init and exit_code == 0:
                return
            if policy == "Never" or (policy == "OnFailure" and exit_code == 0):
                return
            self._next_backoff(ran)
            self.restart_count += 1
            self._changed()

    def _next_backoff(self, ran_s: float) -> None:
        """The first restart is at once; then base, doubling, capped; reset by a long run."""
        if ran_s >= BACKOFF_RESET_S or self.restart_count == 0:
            self._backoff = 0.0
        else:
            self._backoff = min(
                max(self._backoff * 2, self.worker.kubelet.backoff_base_s), MAX_BACKOFF_S
            )

    async def _wait_backoff(self) -> None:
        if self._backoff <= 0:
            return
        self.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {self._backoff:g}s restarting failed container={self.name} "
                f"pod={self.worker.name}_{self.worker.namespace}",
            }
        }
        self._changed()
        self.worker.event(
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {self.name} in pod "
            f"{self.worker.name}_{self.worker.namespace}",
        )
        await wait_until(self._stop.wait(), self._backoff)

    def _open_log(self) -> BinaryIO:
        kubelet, worker = self.worker.kubelet, self.worker
        return kubelet.log_path(worker.namespace, worker.name, self.name, self.restart_count).open(
            "ab"
        )

    async def _run_once(self) -> int:
        try:
            env, argv, cwd = self.worker.command_of(self.spec)
        except ValueError as exc:  # a missing ConfigMap key or Secret: stay in waiting
            self.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
            self._changed()
            await wait_until(self._stop.wait(), 2.0)
            return 1
        self._run_env, self._run_cwd = env, cwd
        with self._open_log() as log:
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    "ip",
                    "netns",
                    "exec",
                    self.worker.netns,
                    *argv,
                    env=env,
                    cwd=cwd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                log.write(f"failed to start: {exc}\n".encode())
                self._terminated(128, "StartError", rfc3339(self.worker.now()))
                return 128
        started_at = rfc3339(self.worker.now())
        self.state = {"running": {"startedAt": started_at}}
        self.exit_code = None
        self._killed_for = None
        self.worker.event("Normal", "Created", f"Created container: {self.name}")
        self.worker.event("Normal", "Started", f"Started container {self.name}")
        self.started = not self.spec.get("startupProbe") and not self.init
        self.ready = False
        self._changed()
        probes = None if self.init else asyncio.create_task(self._probe_all(env))
        waiter = asyncio.create_task(self.proc.wait())
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done and waiter not in done:
            await self.kill(self._stop_grace if self._stop_grace is not None else 30.0, env)
        stopper.cancel()
        code = await waiter
        # The main process is gone: so is the container, with whatever it left running.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if probes is not None:
            probes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probes
        self.ready = False
        self.started = False
        reason = "Completed" if code == 0 else "Error"
        self._terminated(code if code >= 0 else 128 - code, reason, started_at)
        return code

    def _terminated(self, code: int, reason: str, started_at: str) -> None:
        self.exit_code = code
        self.last_state = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": started_at,
                "finishedAt": rfc3339(self.worker.now()),
            }
        }
        self.state = dict(self.last_state)
        self._changed()

    async def kill(
        self, grace_s: float, env: dict[str, str] | None = None, reason: str | None = None
    ) -> None:
        """killContainer: preStop (bounded by the grace), SIGTERM, >= 2 s, SIGKILL.

        As the runtime does, the stop signal goes to the container's main process only (its
        PID 1: children are its business); SIGKILL takes every process of the container, as
        the end of its PID namespace does."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self.worker.event("Normal", "Killing", reason or f"Stopping container {self.name}")
        begin = time.monotonic()
        hook = (self.spec.get("lifecycle") or {}).get("preStop")
        if hook and grace_s > 0:
            await self._pre_stop(hook, env, grace_s)
        grace = max(grace_s - (time.monotonic() - begin), _MIN_GRACE_S)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            if not await wait_until(proc.wait(), grace):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()

    async def _pre_stop(
        self, hook: dict[str, Any], env: dict[str, str] | None, grace_s: float
    ) -> None:
        ok, message = True, ""
        try:
            if "exec" in hook:
                # The hook runs in the running container: with the environment it started with
                # (a ConfigMap deleted since does not matter, as on a node).
                if self._run_env is None:
                    self._run_env, _, self._run_cwd = self.worker.command_of(self.spec)
                run_env = env if env is not None else self._run_env
                argv = self.worker.rewrite(self.spec, hook["exec"]["command"], run_env)
                code, out = await exec_in(self.worker.netns, argv, run_env, self._run_cwd, grace_s)
                ok, message = (
                    code == 0,
                    out.strip()[-300:] or ("timed out" if code is None else f"exit {code}"),
                )
            elif "httpGet" in hook:
                async with httpx.AsyncClient() as client:
                    ok, message = await run_probe(
                        {"httpGet": hook["httpGet"], "timeoutSeconds": grace_s},
                        self.spec,
                        self.worker.pod_ip,
                        self.worker.netns,
                        {},
                        client,
                    )
        except (OSError, ValueError) as exc:
            ok, message = False, str(exc)
        self.worker.pre_stop_result(self.name, ok, message)
        if not ok:
            self.worker.event("Warning", "FailedPreStopHook", f"PreStopHook failed: {message}")

    # -- probes ---------------------------------------------------------------------------------

    async def _probe_all(self, env: dict[str, str]) -> None:
        async with httpx.AsyncClient() as client:
            startup = self.spec.get("startupProbe")
            if startup:
                state = ProbeState("startupProbe", startup)
                if await self._probe(state, env, client) != "Success":
                    return
                self.started = True
                self._changed()
            tasks = [
                asyncio.create_task(self._probe(ProbeState(kind, self.spec[kind]), env, client))
                for kind in ("livenessProbe", "readinessProbe")
                if self.spec.get(kind)
            ]
            if not self.spec.get("readinessProbe"):
                self.ready = True
                self._changed()
            if tasks:
                await asyncio.gather(*tasks)

    async def _probe(
        self, state: ProbeState, env: dict[str, str], client: httpx.AsyncClient
    ) -> str | None:
        spec = state.spec
        await asyncio.sleep(float(spec.get("initialDelaySeconds", 0)))
        while True:
            if state.kind != "readinessProbe" and self.worker.terminating:
                return None  # deleted pods: liveness and startup stop, readiness goes on
            ok, message = await run_probe(
                spec, self.spec, self.worker.pod_ip, self.worker.netns, env, client
            )
            if not ok:
                label = {
                    "readinessProbe": "Readiness",
                    "livenessProbe": "Liveness",
                    "startupProbe": "Startup",
                }[state.kind]
                self.worker.event("Warning", "Unhealthy", f"{label} probe failed: {message}")
            published = state.observe(ok)
            if published is not None:
                if state.kind == "readinessProbe":
                    self.ready = published == "Success"
                    self._changed()
                elif published == "Failure":
                    await self._restart_for(state)
                    return "Failure"
                elif state.kind == "startupProbe":
                    return "Success"
            await asyncio.sleep(float(spec.get("periodSeconds", 10)))

    async def _restart_for(self, state: ProbeState) -> None:
        what = "liveness" if state.kind == "livenessProbe" else "startup"
        grace = state.spec.get(
            "terminationGracePeriodSeconds",
            self.worker.pod["spec"].get("terminationGracePeriodSeconds", 30),
        )
        self._killed_for = what
        self.worker.probe_restart(self.name, what)
        await self.kill(
            float(grace), reason=f"Container {self.name} failed {what} probe, will be restarted"
        )
