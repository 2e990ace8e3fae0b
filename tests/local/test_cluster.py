"""The local cluster's controllers and kubelet, observed only through the official
``kubernetes`` client and kubectl (never through our own readers).

Every test works in its own namespace on one cluster (2 nodes, 1 fake GPU each). Pods run
``python -m http.server``: a real process in its own network namespace, cheap to start.
The expected behaviour is upstream's: the Deployment controller
(pkg/controller/deployment: rolling.go, recreate.go, progress.go), the scheduler's fit
filter and its FailedScheduling message (pkg/scheduler/framework/plugins/noderesources/fit.go),
the endpoints controller (pkg/controller/endpoint: only ready, non-terminating pods), the
kubelet's probes, preStop and grace period (pkg/kubelet/kuberuntime/kuberuntime_container.go
killContainer), and eviction against PodDisruptionBudgets
(pkg/registry/core/pod/storage/eviction.go).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch
from urllib3.exceptions import ProtocolError

from tests.local.conftest import RunningCluster, kubectl, wait_for
from vllm_deploy.kube.rollout import RolloutFailed, rollout_status

PORT = 8080


def namespace(rc: RunningCluster, name: str) -> str:
    rc.core.create_namespace({"metadata": {"name": name}})
    return name


def web_container(**extra: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "image": "python:3",
        "command": [sys.executable, "-m", "http.server", str(PORT), "--bind", "0.0.0.0"],
        "ports": [{"containerPort": PORT, "name": "http"}],
        "readinessProbe": {
            "httpGet": {"path": "/", "port": PORT},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
        **extra,
    }


def deployment(name: str, replicas: int, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    template = spec.pop("template", None) or {
        "metadata": {"labels": labels},
        "spec": {"containers": [web_container()], "terminationGracePeriodSeconds": 5},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": template,
            **spec,
        },
    }


def as_dict(rc: RunningCluster, obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = rc.api.sanitize_for_serialization(obj)
    return result


def rolled_out(rc: RunningCluster, ns: str, name: str) -> bool:
    d = as_dict(rc, rc.apps.read_namespaced_deployment(name, ns))
    return rollout_status(d).done


def pods(rc: RunningCluster, ns: str, selector: str = "") -> list[client.V1Pod]:
    items: list[client.V1Pod] = rc.core.list_namespaced_pod(ns, label_selector=selector).items
    return items


def run_kubectl(rc: RunningCluster, *args: str, timeout: float = 120) -> str:
    exe = kubectl()
    assert exe is not None
    done = subprocess.run(
        [exe, "--kubeconfig", str(rc.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


class DeploymentWatch:
    """Every status the Deployment goes through, from a watch in a thread."""

    def __init__(self, rc: RunningCluster, ns: str, name: str) -> None:
        self.statuses: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(rc, ns, name), daemon=True)
        self._thread.start()

    def _run(self, rc: RunningCluster, ns: str, name: str) -> None:
        stream = self._watch.stream(
            rc.apps.list_namespaced_deployment,
            ns,
            field_selector=f"metadata.name={name}",
            timeout_seconds=120,
        )
        with contextlib.suppress(ProtocolError):  # the cluster stopped while we watched
            for event in stream:
                self.statuses.append(as_dict(rc, event["object"]).get("status") or {})
                if self._stop.is_set():
                    break

    def stop(self) -> None:
        self._stop.set()
        self._watch.stop()


def test_rolling_update_keeps_every_replica_available(local_cluster: RunningCluster) -> None:
    rc = local_cluster
    ns = namespace(rc, "rolling")
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    rc.apps.create_namespaced_deployment(ns, deployment("web", 3, strategy=strategy))
    wait_for(lambda: rolled_out(rc, ns, "web"), what="the first rollout")
    first = {p.metadata.name for p in pods(rc, ns)}
    assert len(first) == 3

    seen = DeploymentWatch(rc, ns, "web")
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "web", "env": [{"name": "V", "value": "2"}]}]}
            }
        }
    }
    rc.apps.patch_namespaced_deployment("web", ns, patch)
    wait_for(lambda: rolled_out(rc, ns, "web"), what="the second rollout")
    seen.stop()

    # maxUnavailable 0: never fewer than 3 available; maxSurge 1: never more than 4 pods.
    during = [s for s in seen.statuses if s.get("observedGeneration", 0) >= 2]
    assert during, seen.statuses
    assert min(s.get("availableReplicas", 0) for s in during) >= 3
    assert max(s.get("replicas", 0) for s in during) <= 4
    live = pods(rc, ns)
    assert len(live) == 3 and not first & {p.metadata.name for p in live}
    assert all(c.name == "web" and c.env[0].value == "2" for p in live for c in p.spec.containers)

    sets = rc.apps.list_namespaced_replica_set(ns).items
    revisions = sorted(
        (rs.metadata.annotations["deployment.kubernetes.io/revision"], rs.spec.replicas)
        for rs in sets
    )
    assert revisions == [("1", 0), ("2", 3)]
    hashes = {rs.metadata.labels["pod-template-hash"] for rs in sets}
    assert all(rs.metadata.name == f"web-{rs.metadata.labels['pod-template-hash']}" for rs in sets)
    assert len(hashes) == 2
    d = rc.apps.read_namespaced_deployment("web", ns)
    progressing = next(c for c in d.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"


@pytest.mark.skipif(kubectl() is None, reason="kubectl is not installed")
def test_kubectl_scale_rollout_status_history_and_undo(local_cluster: RunningCluster) -> None:
    rc = local_cluster
    ns = namespace(rc, "kubectl")
    rc.apps.create_namespaced_deployment(ns, deployment("web", 1))
    out = run_kubectl(rc, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in out

    run_kubectl(rc, "-n", ns, "scale", "deployment/web", "--replicas=2")
    wait_for(lambda: len(pods(rc, ns)) == 2 and rolled_out(rc, ns, "web"), what="2 replicas")
    assert "web" in run_kubectl(rc, "-n", ns, "get", "deployments")

    run_kubectl(rc, "-n", ns, "set", "env", "deployment/web", "V=2")
    run_kubectl(rc, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    history = run_kubectl(rc, "-n", ns, "rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    run_kubectl(rc, "-n", ns, "rollout", "undo", "deployment/web")
    run_kubectl(rc, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    d = rc.apps.read_namespaced_deployment("web", ns)
    # The undo copies revision 1's template back: it becomes revision 3, and 1 is gone.
    assert d.spec.template.spec.containers[0].env is None
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    revisions = sorted(
        rs.metadata.annotations["deployment.kubernetes.io/revision"]
        for rs in rc.apps.list_namespaced_replica_set(ns).items
    )
    assert revisions == ["2", "3"]


def test_recreate_stops_every_old_pod_before_the_new_ones(local_cluster: RunningCluster) -> None:
    rc = local_cluster
    ns = namespace(rc, "recreate")
    rc.apps.create_namespaced_deployment(ns, deployment("web", 2, strategy={"type": "Recreate"}))
    wait_for(lambda: rolled_out(rc, ns, "web"), what="the first rollout")
    old = {p.metadata.name for p in pods(rc, ns)}

    events: list[tuple[str, str, str, float]] = []  # type, pod, phase, when
    stop = threading.Event()
    w = watch.Watch()

    def record() -> None:
        with contextlib.suppress(ProtocolError):  # the cluster stopped while we watched
            for event in w.stream(rc.core.list_namespaced_pod, ns, timeout_seconds=120):
                pod = event["object"]
                phase = pod.status.phase if pod.status else ""
                events.append((event["type"], pod.metadata.name, phase, time.monotonic()))
                if stop.is_set():
                    break

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    patch = {"spec": {"template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}}
    rc.apps.patch_namespaced_deployment("web", ns, patch)
    wait_for(lambda: rolled_out(rc, ns, "web") and len(pods(rc, ns)) == 2, what="the recreate")
    stop.set()
    w.stop()

    # Upstream's guarantee (recreate.go, oldPodsRunning): no new pod until every old one is
    # Succeeded or Failed; a stopped pod may still be deleted after the new ones appear.
    stopped = {
        name: min(
            t
            for kind, n, phase, t in events
            if n == name and (kind == "DELETED" or phase in ("Succeeded", "Failed"))
        )
        for name in old
    }
    created = min(t for kind, name, _, t in events if kind == "ADDED" and name not in old)
    assert max(stopped.values()) < created, events


def test_progress_deadline_exceeded(local_cluster: RunningCluster) -> None:
    rc = local_cluster
    ns = namespace(rc, "deadline")
    container = web_container()
    container["readinessProbe"]["httpGet"]["path"] = "/no-such-file"  # http.server: 404
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}
    rc.apps.create_namespaced_deployment(
        ns, deployment("web", 1, template=template, progressDeadlineSeconds=2)
    )

    def exceeded() -> bool:
        d = rc.apps.read_namespaced_deployment("web", ns)
        return any(
            c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded"
            for c in d.status.conditions or []
        )

    wait_for(exceeded, timeout_s=30, what="ProgressDeadlineExceeded")
    d = as_dict(rc, rc.apps.read_namespaced_deployment("web", ns))
    cond = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert cond["status"] == "False"
    assert cond["message"].startswith('ReplicaSet "web-') and cond["message"].endswith(
        '" has timed out progressing.'
    )
    with pytest.raises(RolloutFailed, match='deployment "web" exceeded its progress deadline'):
        rollout_status(d)
    pod = pods(rc, ns)[0]
    assert pod.status.phase == "Running"
    ready = next(c for c in pod.status.conditions if c.type == "Ready")
    assert ready.status == "False"


def test_unschedulable_pod_stays_pending_with_the_schedulers_reason(
    local_cluster: RunningCluster,
) -> None:
    rc = local_cluster
    ns = namespace(rc, "pending")
    container = web_container(resources={"limits": {"nvidia.com/gpu": "2"}})
    rc.core.create_namespaced_pod(
        ns, {"metadata": {"name": "big"}, "spec": {"containers": [container]}}
    )

    def unschedulable() -> Any:
        pod = rc.core.read_namespaced_pod("big", ns)
        return next(
            (
                c
                for c in pod.status.conditions or []
                if c.type == "PodScheduled" and c.status == "False"
            ),
            None,
        )

    cond = wait_for(unschedulable, timeout_s=20, what="PodScheduled=False")
    assert cond.reason == "Unschedulable"
    assert cond.message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    pod = rc.core.read_namespaced_pod("big", ns)
    assert pod.status.phase == "Pending" and not pod.spec.node_name
    events = rc.core.list_namespaced_event(ns, field_selector="involvedObject.name=big").items
    assert any(e.reason == "FailedScheduling" and e.type == "Warning" for e in events)
    nodes = rc.core.list_node().items
    assert [n.status.allocatable["nvidia.com/gpu"] for n in nodes] == ["1", "1"]


def endpoint_ips(rc: RunningCluster, ns: str, name: str) -> set[str]:
    ep = rc.core.read_namespaced_endpoints(name, ns)
    return {a.ip for s in ep.subsets or [] for a in s.addresses or []}


def test_endpoints_hold_ready_pods_and_drop_terminating_ones_at_once(
    local_cluster: RunningCluster,
) -> None:
    rc = local_cluster
    ns = namespace(rc, "endpoints")
    container = web_container(
        lifecycle={"preStop": {"exec": {"command": ["sleep", "3"]}}},
    )
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 10},
    }
    rc.apps.create_namespaced_deployment(ns, deployment("web", 2, template=template))
    rc.core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    wait_for(lambda: rolled_out(rc, ns, "web"), what="the rollout")
    live = pods(rc, ns)
    ips = wait_for(
        lambda: endpoint_ips(rc, ns, "web") if len(endpoint_ips(rc, ns, "web")) == 2 else None
    )
    assert ips == {p.status.pod_ip for p in live}
    ep = rc.core.read_namespaced_endpoints("web", ns)
    assert ep.subsets[0].ports[0].port == PORT

    victim = live[0]
    rc.core.delete_namespaced_pod(victim.metadata.name, ns)
    # Terminating (its preStop sleeps 3 s) and already out of the endpoints.
    wait_for(
        lambda: victim.status.pod_ip not in endpoint_ips(rc, ns, "web"), timeout_s=5, what="removal"
    )
    still = rc.core.read_namespaced_pod(victim.metadata.name, ns)
    assert still.metadata.deletion_timestamp is not None


def test_liveness_failure_restarts_the_container(local_cluster: RunningCluster) -> None:
    rc = local_cluster
    ns = namespace(rc, "liveness")
    container = web_container(
        livenessProbe={
            "httpGet": {"path": "/", "port": 9},  # nothing listens there
            "periodSeconds": 1,
            "failureThreshold": 1,
        }
    )
    rc.core.create_namespaced_pod(
        ns, {"metadata": {"name": "sick"}, "spec": {"containers": [container]}}
    )

    def restarted() -> bool:
        status = rc.core.read_namespaced_pod("sick", ns).status.container_statuses or []
        return bool(status) and status[0].restart_count >= 1

    wait_for(restarted, timeout_s=30, what="a restart")
    events = rc.core.list_namespaced_event(ns, field_selector="involvedObject.name=sick").items
    reasons = {e.reason for e in events}
    assert {"Unhealthy", "Killing"} <= reasons
    liveness = [e.message for e in events if e.reason == "Unhealthy" and "Liveness" in e.message]
    pod_ip = rc.core.read_namespaced_pod("sick", ns).status.pod_ip
    assert liveness[0] == (
        f'Liveness probe failed: Get "http://{pod_ip}:9/": '
        f"dial tcp {pod_ip}:9: connect: connection refused"
    )
    status = rc.core.read_namespaced_pod("sick", ns).status.container_statuses[0]
    assert status.last_state.terminated is not None


def test_prestop_then_sigterm_then_sigkill_after_the_grace_period(
    local_cluster: RunningCluster,
) -> None:
    rc = local_cluster
    ns = namespace(rc, "grace")
    rc.core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Mi"}},
            },
        },
    )
    container = {
        "name": "stubborn",
        "image": "busybox",
        # Ignores SIGTERM (an ignored signal stays ignored across exec), so only SIGKILL ends it.
        "command": ["sh", "-c", 'trap "" TERM; echo started; exec sleep 600'],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        # Mounts are path rewrites of whole values (docs/local-cluster.md): the path goes
        # through the environment, not inside the script.
        "env": [{"name": "DATA", "value": "/data"}],
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", 'echo ran > "$DATA/prestop"']}}},
    }
    spec = {
        "containers": [container],
        "terminationGracePeriodSeconds": 2,
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    }
    rc.core.create_namespaced_pod(ns, {"metadata": {"name": "stubborn"}, "spec": spec})
    wait_for(
        lambda: rc.core.read_namespaced_pod("stubborn", ns).status.phase == "Running",
        what="Running",
    )
    wait_for(lambda: "started" in rc.core.read_namespaced_pod_log("stubborn", ns), what="its log")

    started = time.monotonic()
    rc.core.delete_namespaced_pod("stubborn", ns)

    def gone() -> bool:
        try:
            rc.core.read_namespaced_pod("stubborn", ns)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout_s=30, what="the pod to go")
    took = time.monotonic() - started
    assert took >= 2, took  # it outlived SIGTERM: only the grace period's SIGKILL ended it
    claim = rc.state_dir / "persistentvolumeclaims" / ns / "data"
    assert (claim / "prestop").read_text() == "ran\n"
    events = rc.core.list_namespaced_event(ns, field_selector="involvedObject.name=stubborn").items
    killing = [e for e in events if e.reason == "Killing"]
    assert killing and "Stopping container stubborn" in killing[0].message


def test_logs_of_the_current_and_the_previous_run(local_cluster: RunningCluster) -> None:
    rc = local_cluster
    ns = namespace(rc, "logs")
    container = {
        "name": "once",
        "image": "busybox",
        "command": ["sh", "-c", "echo run-$(date +%s%N); sleep 1; exit 3"],
    }
    rc.core.create_namespaced_pod(
        ns, {"metadata": {"name": "p"}, "spec": {"containers": [container]}}
    )

    def restarted() -> Any:
        statuses = rc.core.read_namespaced_pod("p", ns).status.container_statuses or []
        return statuses and statuses[0].restart_count >= 1 and statuses[0]

    status = wait_for(restarted, timeout_s=30, what="a restart")
    assert status.last_state.terminated.exit_code == 3
    assert status.last_state.terminated.reason == "Error"
    previous = rc.core.read_namespaced_pod_log("p", ns, previous=True)
    assert previous.startswith("run-")
    current = wait_for(lambda: rc.core.read_namespaced_pod_log("p", ns), what="the current log")
    assert current.startswith("run-") and current != previous


def test_eviction_respects_the_disruption_budget(local_cluster: RunningCluster) -> None:
    rc = local_cluster
    ns = namespace(rc, "eviction")
    rc.apps.create_namespaced_deployment(ns, deployment("web", 2))
    client.PolicyV1Api(rc.api).create_namespaced_pod_disruption_budget(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    wait_for(lambda: rolled_out(rc, ns, "web"), what="the rollout")

    def budget() -> Any:
        pdb = client.PolicyV1Api(rc.api).read_namespaced_pod_disruption_budget("web", ns)
        return pdb.status if pdb.status and pdb.status.current_healthy == 2 else None

    status = wait_for(budget, what="the budget's status")
    assert status.disruptions_allowed == 0 and status.desired_healthy == 2
    victim = pods(rc, ns)[0].metadata.name
    eviction = {"metadata": {"name": victim, "namespace": ns}}
    with pytest.raises(client.ApiException) as refused:
        rc.core.create_namespaced_pod_eviction(victim, ns, eviction)
    assert refused.value.status == 429
    assert "Cannot evict pod as it would violate the pod's disruption budget." in refused.value.body

    rc.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    wait_for(lambda: budget_allows(rc, ns), what="a disruption to be allowed")
    rc.core.create_namespaced_pod_eviction(victim, ns, eviction)
    doomed = rc.core.read_namespaced_pod(victim, ns)
    assert doomed.metadata.deletion_timestamp is not None


def budget_allows(rc: RunningCluster, ns: str) -> bool:
    pdb = client.PolicyV1Api(rc.api).read_namespaced_pod_disruption_budget("web", ns)
    return bool(pdb.status and pdb.status.disruptions_allowed >= 1)


def test_a_mount_over_the_hosts_directories_leaves_path_alone(
    local_cluster: RunningCluster,
) -> None:
    """Mounts rewrite the container's own values; PATH (the host's directories, where the
    image's commands are) must survive a mount at a path it lies under, as /tmp for a
    checkout under /tmp."""
    rc = local_cluster
    ns = namespace(rc, "path")
    bin_dir = os.path.dirname(sys.executable)
    top = "/" + bin_dir.strip("/").split("/")[0]
    container = {
        "name": "which",
        "image": "busybox",
        "command": ["sh", "-c", 'echo "$PATH" | cut -d: -f1; sleep 600'],
        "volumeMounts": [{"name": "scratch", "mountPath": top}],
    }
    spec = {"containers": [container], "volumes": [{"name": "scratch", "emptyDir": {}}]}
    rc.core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": spec})
    log = wait_for(lambda: rc.core.read_namespaced_pod_log("p", ns), what="its log")
    assert log.strip() == bin_dir
