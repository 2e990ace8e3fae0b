"""Probes and exec hooks of one container.

The probe worker of kubernetes pkg/kubelet/prober/worker.go: one per probe, ticking every
``periodSeconds`` once ``initialDelaySeconds`` has passed since the container started; the
initial results are readiness Failure, liveness Success, startup Unknown; a result is
published only after ``failureThreshold`` consecutive failures or ``successThreshold``
consecutive successes; until the startup probe has succeeded only it runs. HTTP probes
(pkg/probe/http/http.go) succeed on 200 <= status < 400, and a timeout or transport error is
a failure; exec probes and hooks succeed on exit status 0.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from vllm_deploy.local.aio import wait_until

__all__ = ["ProbeResult", "ProbeState", "exec_in", "run_probe"]

ProbeResult = Literal["Success", "Failure", "Unknown"]
INITIAL: dict[str, ProbeResult] = {
    "readinessProbe": "Failure",
    "livenessProbe": "Success",
    "startupProbe": "Unknown",
}


async def exec_in(
    netns: str, argv: list[str], env: dict[str, str], cwd: str | None, timeout_s: float
) -> tuple[int | None, str]:
    """Runs ``argv`` in the pod's network namespace; (exit status or None on timeout, output)."""
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        netns,
        *argv,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[bytes] = []

    async def collect() -> None:
        output.append((await proc.communicate())[0])

    if not await wait_until(collect(), timeout_s):
        proc.kill()
        await proc.wait()
        return None, "timed out"
    return proc.returncode, output[0].decode(errors="replace")


def _port(container: dict[str, Any], port: Any) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"port {port!r} is not a container port")


def _go_error(exc: httpx.HTTPError, host: str, port: int) -> str:
    """The failure as the kubelet's Go HTTP client words it (what ``kubectl describe`` shows),
    e.g. ``dial tcp 10.0.0.5:8080: connect: connection refused``."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"dial tcp {host}:{port}: i/o timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    if isinstance(exc, httpx.ConnectError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    return f"{type(exc).__name__}: {exc}"


async def run_probe(
    probe: dict[str, Any],
    container: dict[str, Any],
    pod_ip: str,
    netns: str,
    env: dict[str, str],
    client: httpx.AsyncClient,
) -> tuple[bool, str]:
    """One attempt: (succeeded, what to report when it did not)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    if "httpGet" in probe:
        get = probe["httpGet"]
        host = get.get("host") or pod_ip
        port = _port(container, get["port"])
        url = f"{get.get('scheme', 'HTTP').lower()}://{host}:{port}{get.get('path', '/')}"
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        try:
            resp = await client.get(url, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            return False, f'Get "{url}": {_go_error(exc, host, port)}'
        if 200 <= resp.status_code < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {resp.status_code}"
    if "exec" in probe:
        code, out = await exec_in(netns, probe["exec"]["command"], env, None, timeout)
        if code == 0:
            return True, ""
        return False, out.strip()[-200:] or f"command exited with {code}"
    if "tcpSocket" in probe:
        port = _port(container, probe["tcpSocket"]["port"])
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(pod_ip, port)
            writer.close()
            return True, ""
        except TimeoutError:
            return False, f"dial tcp {pod_ip}:{port}: i/o timeout"
        except OSError as exc:
            return False, f"dial tcp {pod_ip}:{port}: connect: {exc.strerror or exc}".lower()
    return True, ""


@dataclass
class ProbeState:
    """The published result of one probe and its run of equal outcomes."""

    kind: str  # readinessProbe, livenessProbe, startupProbe
    spec: dict[str, Any]
    result: ProbeResult = "Unknown"
    streak: int = 0
    last_outcome: bool | None = None

    def __post_init__(self) -> None:
        self.result = INITIAL[self.kind]

    def observe(self, succeeded: bool) -> ProbeResult | None:
        """Counts one attempt; returns the new result when one is published."""
        if succeeded == self.last_outcome:
            self.streak += 1
        else:
            self.streak, self.last_outcome = 1, succeeded
        threshold = self.spec.get(
            "successThreshold" if succeeded else "failureThreshold", 1 if succeeded else 3
        )
        new: ProbeResult = "Success" if succeeded else "Failure"
        if self.streak >= threshold and new != self.result:
            self.result = new
            return new
        return None
