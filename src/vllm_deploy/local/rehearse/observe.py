"""What a rehearsal sees of the cluster, through the official client (not the stand-in's own
store): every pod's life from a watch, the Deployment's desired and ready replicas, and what
its HPA last measured."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

from vllm_deploy.autoscale.quantity import QuantityError, milli

__all__ = ["ClusterObserver", "PodLife"]

_TEMPLATE_HASH = "pod-template-hash"


@dataclass
class PodLife:
    """One pod as observed: times are seconds since the rehearsal began."""

    name: str
    template_hash: str
    uid: str
    ip: str | None = None
    created: float | None = None
    started: float | None = None
    ready: float | None = None
    ready_transitions: list[float] = field(default_factory=list)  # each time it became Ready
    # Each time a watch event showed it Ready, or no longer Ready, when the event arrived
    # (sub-second, unlike the condition's whole-second lastTransitionTime).
    ready_seen: list[float] = field(default_factory=list)
    unready_seen: list[float] = field(default_factory=list)
    is_ready: bool = False
    container_starts: list[float] = field(default_factory=list)  # each run of the container
    pending_unschedulable: bool = False
    deletion_deadline: float | None = None  # deletionTimestamp = deletion time + grace
    grace_s: int | None = None
    terminated: float | None = None
    exit_code: int | None = None
    exit_reason: str | None = None
    restarts: int = 0
    deleted: float | None = None

    def as_dict(self, revisions: dict[str, str]) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "is_ready"}
        out["revision"] = revisions.get(self.template_hash)
        out["exited_within_grace"] = (
            None
            if self.terminated is None or self.deletion_deadline is None
            else self.terminated <= self.deletion_deadline + 1.0  # timestamps are whole seconds
        )
        return out


@dataclass
class ClusterObserver:
    """Usage: ``obs = ClusterObserver(api, "llm", "vllm-sim")``; ``obs.start()`` ...
    ``obs.stop()``."""

    api: client.ApiClient
    namespace: str
    deployment: str
    selector: str
    begin: float = field(default_factory=time.time)
    pods: dict[str, PodLife] = field(default_factory=dict)
    timeline: list[list[float]] = field(default_factory=list)
    # [t, the HPA's first metric as its status reports it (per pod), its desired replicas]
    # whenever either changed: the HPA writes its status at a sync when something changed.
    hpa_timeline: list[list[float | None]] = field(default_factory=list)
    listed: threading.Event = field(default_factory=threading.Event)  # the first pod list is in
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _t(self, wall: float | None) -> float | None:
        return None if wall is None else round(wall - self.begin, 3)

    @staticmethod
    def _ts(value: Any) -> float | None:
        return value.timestamp() if value is not None else None

    def start(self) -> None:
        for target in (self._watch_pods, self._sample_replicas):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _watch_pods(self) -> None:
        """A list, then watches that resume from the last resourceVersion (no event lost)."""
        core = client.CoreV1Api(self.api)
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listed = core.list_namespaced_pod(self.namespace, label_selector=self.selector)
                    for pod in listed.items:
                        self._record("ADDED", pod)
                    version = (listed.metadata.resource_version if listed.metadata else None) or ""
                    self.listed.set()
                w = watch.Watch()
                for event in w.stream(
                    core.list_namespaced_pod,
                    self.namespace,
                    label_selector=self.selector,
                    resource_version=version,
                    timeout_seconds=2,
                ):
                    self._record(event["type"], event["object"])
                    version = event["object"].metadata.resource_version or version
                    if self._stop.is_set():
                        w.stop()
            except client.ApiException as exc:
                if exc.status == 410:
                    version = ""  # too old: list again
                time.sleep(0.2)

    def _record(self, kind: str, pod: Any) -> None:
        meta, status = pod.metadata, pod.status
        life = self.pods.get(meta.name)
        if life is None:
            life = PodLife(
                meta.name,
                (meta.labels or {}).get(_TEMPLATE_HASH, ""),
                meta.uid,
                created=self._t(self._ts(meta.creation_timestamp)),
            )
            self.pods[meta.name] = life
        life.ip = status.pod_ip or life.ip
        life.started = life.started or self._t(self._ts(status.start_time))
        now_ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
        if life.is_ready != now_ready:
            seen = life.ready_seen if now_ready else life.unready_seen
            seen.append(round(time.time() - self.begin, 3))
        life.is_ready = now_ready
        for cond in status.conditions or []:
            if cond.type == "Ready" and cond.status == "True":
                since = self._t(self._ts(cond.last_transition_time))
                life.ready = life.ready if life.ready is not None else since
                if since is not None and since not in life.ready_transitions:
                    life.ready_transitions.append(since)
            if (
                cond.type == "PodScheduled"
                and cond.status == "False"
                and cond.reason == "Unschedulable"
            ):
                life.pending_unschedulable = True
        if meta.deletion_timestamp is not None:
            life.deletion_deadline = self._t(self._ts(meta.deletion_timestamp))
            life.grace_s = meta.deletion_grace_period_seconds
        for cs in status.container_statuses or []:
            life.restarts = max(life.restarts, cs.restart_count or 0)
            running = cs.state.running if cs.state else None
            if running is not None and running.started_at is not None:
                begun = self._t(self._ts(running.started_at))
                if begun is not None and begun not in life.container_starts:
                    life.container_starts.append(begun)
            terminated = cs.state.terminated if cs.state else None
            if terminated is not None:
                life.terminated = self._t(self._ts(terminated.finished_at))
                life.exit_code, life.exit_reason = terminated.exit_code, terminated.reason
        if kind == "DELETED":
            life.deleted = round(time.time() - self.begin, 3)

    def _sample_replicas(self) -> None:
        apps = client.AppsV1Api(self.api)
        hpas: client.AutoscalingV2Api | None = client.AutoscalingV2Api(self.api)
        while not self._stop.is_set():
            try:
                d = apps.read_namespaced_deployment(self.deployment, self.namespace)
                ready = (d.status.ready_replicas if d.status else 0) or 0
                desired = (d.spec.replicas if d.spec else 0) or 0
                point = [round(time.time() - self.begin, 2), desired, ready]
                if not self.timeline or self.timeline[-1][1:] != point[1:]:
                    self.timeline.append(point)
            except client.ApiException:
                pass
            try:
                if hpas is not None:
                    self._sample_hpa(hpas)
            except client.ApiException as exc:
                if exc.status == 404:  # a fixed fleet: no HPA
                    hpas = None
            self._stop.wait(0.5)

    def _sample_hpa(self, hpas: client.AutoscalingV2Api) -> None:
        hpa = hpas.read_namespaced_horizontal_pod_autoscaler(self.deployment, self.namespace)
        status = hpa.status
        if status is None:
            return
        current = None
        for metric in status.current_metrics or []:
            source = getattr(metric, str(metric.type).lower(), None)
            value = source.current.average_value if source and source.current else None
            if value is not None:
                with contextlib.suppress(QuantityError):
                    current = milli(value) / 1000
                break
        point = [round(time.time() - self.begin, 2), current, status.desired_replicas]
        if not self.hpa_timeline or self.hpa_timeline[-1][1:] != point[1:]:
            self.hpa_timeline.append(point)

    def events(self, pod: str, limit: int = 30) -> list[dict[str, Any]]:
        """The pod's Events (the kubelet's and the scheduler's), oldest first."""
        core = client.CoreV1Api(self.api)
        listed = core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={pod}"
        )
        out = [
            {
                "t": self._t(self._ts(e.last_timestamp or e.first_timestamp)),
                "type": e.type,
                "reason": e.reason,
                "message": e.message,
                "count": e.count,
            }
            for e in listed.items
        ]
        return sorted(out, key=lambda e: e["t"] or 0)[-limit:]

    def revisions(self) -> dict[str, str]:
        """pod-template-hash -> the ReplicaSet's revision annotation."""
        apps = client.AppsV1Api(self.api)
        out: dict[str, str] = {}
        for rs in apps.list_namespaced_replica_set(self.namespace).items:
            meta = rs.metadata
            h = ((meta.labels if meta else None) or {}).get(_TEMPLATE_HASH)
            revision = ((meta.annotations if meta else None) or {}).get(
                "deployment.kubernetes.io/revision"
            )
            if h and revision:
                out[h] = revision
        return out
