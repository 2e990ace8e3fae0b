"""Reading a deployment's state through the API: its pods, ReplicaSets, autoscaler and Events,
and why pods are not ready, in the words an operator needs (which pod, which probe, the last
log lines)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from vllm_deploy.render.common import selector_labels
from vllm_deploy.spec import DeploymentSpec

__all__ = [
    "REVISION",
    "Obj",
    "PodView",
    "age",
    "deployment_of",
    "events_of",
    "pods_of",
    "read_deployment",
    "replica_sets_of",
    "selector_of",
    "why_not_ready",
]

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"


def _dict(api: client.ApiClient, obj: Any) -> Obj:
    result: Obj = api.sanitize_for_serialization(obj)
    return result


def selector_of(spec: DeploymentSpec, **extra: str) -> str:
    return ",".join(f"{k}={v}" for k, v in {**selector_labels(spec), **extra}.items())


def read_deployment(api: client.ApiClient, namespace: str, name: str) -> Obj | None:
    """The Deployment (a dict as the API returns it), or None when it does not exist."""
    try:
        found = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return _dict(api, found)


def deployment_of(api: client.ApiClient, spec: DeploymentSpec) -> Obj | None:
    """The spec's Deployment, or None."""
    return read_deployment(api, spec.namespace, spec.app_name)


def replica_sets_of(api: client.ApiClient, deployment: Obj) -> list[Obj]:
    """The Deployment's ReplicaSets (by controller reference), oldest revision first."""
    meta = deployment["metadata"]
    listed = client.AppsV1Api(api).list_namespaced_replica_set(meta["namespace"])
    owned = [
        rs
        for rs in (_dict(api, i) for i in listed.items)
        if any(
            o.get("uid") == meta["uid"] and o.get("controller")
            for o in rs["metadata"].get("ownerReferences") or []
        )
    ]
    return sorted(
        owned, key=lambda rs: int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    )


def pods_of(api: client.ApiClient, namespace: str, selector: str) -> list[Obj]:
    listed = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector)
    return sorted((_dict(api, p) for p in listed.items), key=lambda p: p["metadata"]["name"])


def events_of(api: client.ApiClient, namespace: str, name: str | None = None) -> list[Obj]:
    """Events (of one object when ``name`` is given), oldest first."""
    selector = f"involvedObject.name={name}" if name else None
    listed = client.CoreV1Api(api).list_namespaced_event(namespace, field_selector=selector)
    events = [_dict(api, e) for e in listed.items]
    return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("firstTimestamp") or "")


def age(timestamp: str | None, now: dt.datetime | None = None) -> str:
    """A short age as kubectl prints it (duration.HumanDuration, without the mixed units):
    seconds under 2 minutes, minutes under 3 hours, hours under 2 days, then days."""
    if not timestamp:
        return "?"
    then = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = max(int(((now or dt.datetime.now(dt.UTC)) - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3 * 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


@dataclass
class PodView:
    """One pod as ``status`` shows it."""

    name: str
    ready: bool
    phase: str
    state: str  # Running, Terminating, CrashLoopBackOff, Pending: <reason>, ...
    restarts: int
    age: str
    node: str
    revision_hash: str

    @classmethod
    def of(cls, pod: Obj) -> PodView:
        meta, status = pod["metadata"], pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        ready = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
        )
        state = status.get("phase", "Pending")
        for cs in statuses:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason"):
                state = waiting["reason"]
        scheduled = next(
            (c for c in status.get("conditions") or [] if c["type"] == "PodScheduled"), None
        )
        if scheduled is not None and scheduled["status"] == "False":
            state = f"Pending: {scheduled.get('message') or scheduled.get('reason')}"
        if meta.get("deletionTimestamp"):
            state = "Terminating (draining)"
        return cls(
            name=meta["name"],
            ready=ready,
            phase=status.get("phase", "Pending"),
            state=state,
            restarts=sum(int(c.get("restartCount", 0)) for c in statuses),
            age=age(meta.get("creationTimestamp")),
            node=(pod.get("spec") or {}).get("nodeName") or "-",
            revision_hash=(meta.get("labels") or {}).get("pod-template-hash", ""),
        )


def _last_log_lines(
    api: client.ApiClient, namespace: str, pod: str, container: str, lines: int
) -> list[str]:
    core = client.CoreV1Api(api)
    for previous in (False, True):
        try:
            text = core.read_namespaced_pod_log(
                pod, namespace, container=container, tail_lines=lines, previous=previous
            )
        except client.ApiException:
            continue
        if text:
            return [line[:300] for line in str(text).splitlines()[-lines:]]
    return []


def why_not_ready(
    api: client.ApiClient,
    namespace: str,
    selector: str,
    template_hash: str | None = None,
    log_lines: int = 5,
) -> list[str]:
    """For each pod of the selection (of one revision when ``template_hash`` is given) that is
    not ready: its state, the last probe failure or scheduler message, its last log lines."""
    out: list[str] = []
    for pod in pods_of(api, namespace, selector):
        view = PodView.of(pod)
        if view.ready or (template_hash and view.revision_hash != template_hash):
            continue
        name = view.name
        line = f"pod {name}: {view.state}, {view.restarts} restart(s)"
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (cs.get("lastState") or {}).get("terminated") or (
                cs.get("state") or {}
            ).get("terminated")
            if terminated:
                line += f"; last exit {terminated.get('exitCode')} ({terminated.get('reason')})"
        out.append(line)
        warnings = [e for e in events_of(api, namespace, name) if e.get("type") == "Warning"]
        if warnings:
            last = warnings[-1]
            out.append(f"  {last.get('reason')}: {last.get('message')} (x{last.get('count') or 1})")
        for container in (pod.get("spec") or {}).get("containers") or []:
            lines = _last_log_lines(api, namespace, name, container["name"], log_lines)
            if lines:
                out.append(f"  last log lines of {container['name']}:")
                out += [f"    {line}" for line in lines]
    return out
