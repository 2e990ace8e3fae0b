"""Waiting for a Deployment's rollout the way ``kubectl rollout status`` does
(kubectl pkg/polymorphichelpers/rollout_status.go ``DeploymentStatusViewer.Status``), with
the same messages."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

__all__ = ["RolloutFailed", "RolloutStatus", "rollout_status", "wait_for_rollout"]


class RolloutFailed(RuntimeError):
    """The rollout cannot finish (progress deadline exceeded) or the wait timed out."""


@dataclass(frozen=True)
class RolloutStatus:
    done: bool
    message: str
    revision: int


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def rollout_status(deployment: dict[str, Any], revision: int = 0) -> RolloutStatus:
    """One check of a Deployment (a dict as the API returns it); raises RolloutFailed."""
    meta, spec, status = (
        deployment["metadata"],
        deployment.get("spec") or {},
        deployment.get("status") or {},
    )
    name = meta["name"]
    current = int(
        (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", "0") or 0
    )
    if revision > 0 and current != revision:
        raise RolloutFailed(
            f"desired revision ({revision}) is different from the running revision ({current})"
        )
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return RolloutStatus(False, "Waiting for deployment spec update to be observed...", current)
    progressing = _condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        raise RolloutFailed(f'deployment "{name}" exceeded its progress deadline')
    replicas = spec.get("replicas", 1)
    updated, total, available = (
        status.get(k, 0) for k in ("updatedReplicas", "replicas", "availableReplicas")
    )
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < replicas:
        message = f"{waiting}{updated} out of {replicas} new replicas have been updated..."
    elif total > updated:
        message = f"{waiting}{total - updated} old replicas are pending termination..."
    elif available < updated:
        message = f"{waiting}{available} of {updated} updated replicas are available..."
    else:
        return RolloutStatus(True, f'deployment "{name}" successfully rolled out', current)
    return RolloutStatus(False, message, current)


def wait_for_rollout(
    api: client.ApiClient,
    namespace: str,
    name: str,
    timeout_s: float,
    on_progress: Callable[[RolloutStatus], None] = lambda s: None,
    poll_s: float = 0.5,
) -> RolloutStatus:
    """Checks until done; ``on_progress`` gets each new message. Raises RolloutFailed."""
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        obj = api.sanitize_for_serialization(apps.read_namespaced_deployment(name, namespace))
        status = rollout_status(obj)
        if status.message != last:
            on_progress(status)
            last = status.message
        if status.done:
            return status
        if time.monotonic() > deadline:
            raise RolloutFailed(f"timed out after {timeout_s:g} s: {status.message}")
        time.sleep(poll_s)
