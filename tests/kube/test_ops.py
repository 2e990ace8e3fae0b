"""The operating commands against the local cluster, as users run them (the CLI and the
scripts in scripts/), with real pods and streamed traffic through the Service's nginx port.
Cluster state is read with the official ``kubernetes`` client, never with our own readers.

One story under continuous load: deploy v1; deploy v2; a canary v3 with TTFT x10, aborted by
the gate with the stable Deployment untouched; a healthy canary v4, promoted; rollback to v2;
scale through the HPA's bounds. Then a deploy whose pods never become ready, rolled back by
itself, and bad input.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.local.conftest import RunningCluster, start_cluster, wait_for
from vllm_deploy.local.rehearse.load import Load, summarise

ROOT = Path(__file__).parents[2]
NS, APP = "llm", "vllm-sim"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    state = tmp_path_factory.mktemp("ops")
    yield from start_cluster(state, nodes=8, gpus_per_node=1, scrape_interval="1s", hpa_sync_s=2.0)


def write_spec(path: Path, **changes: Any) -> Path:
    """examples/local.yaml with nested changes, e.g. engine={"simulated": {"ttft_ms": 400}}."""
    spec = yaml.safe_load((ROOT / "examples" / "local.yaml").read_text())

    def merge(into: dict[str, Any], update: dict[str, Any]) -> None:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(spec, changes)
    path.write_text(yaml.safe_dump(spec))
    return path


def run(
    rc: RunningCluster, *args: str, script: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI (or one of scripts/*.sh, which call it) against the cluster's kubeconfig."""
    env = {**os.environ, "VLLMDEPLOY_BIN": str(Path(sys.executable).with_name("vllm-deploy"))}
    env.pop("KUBECONFIG", None)
    argv = [str(ROOT / "scripts" / script)] if script else [sys.executable, "-m", "vllm_deploy"]
    return subprocess.run(
        [*argv, *args, "--kubeconfig", str(rc.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def deployment(rc: RunningCluster, name: str = APP) -> dict[str, Any]:
    d: dict[str, Any] = rc.api.sanitize_for_serialization(
        rc.apps.read_namespaced_deployment(name, NS)
    )
    return d


def deployed_spec(rc: RunningCluster) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(
        deployment(rc)["metadata"]["annotations"]["vllm-deploy.io/spec"]
    )
    return spec


def revision(rc: RunningCluster) -> int:
    return int(deployment(rc)["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def gone(fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except client.ApiException as exc:
        return exc.status == 404
    return False


class BackgroundLoad:
    """Streamed chat requests through the Service's nginx port until stopped."""

    def __init__(self, url: str) -> None:
        self.load = Load(url, "sim", max_tokens=32)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.load.run(concurrency=4, duration_s=3600))
        )
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self.load.stop()
        self._thread.join(timeout=120)
        return summarise(self.load.records)


def test_deploy_canary_rollback_and_scale_under_load(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    rc = cluster
    prometheus = rc.cluster.info()["prometheus"]
    v1 = ROOT / "examples" / "local.yaml"
    v2 = write_spec(tmp_path / "v2.yaml", engine={"simulated": {"itl_ms": 9}})
    v3 = write_spec(tmp_path / "v3.yaml", engine={"simulated": {"itl_ms": 9, "ttft_ms": 400}})
    v4 = write_spec(tmp_path / "v4.yaml", engine={"simulated": {"itl_ms": 7}})

    first = run(rc, "deploy", "-f", str(v1))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "smoke test: GET /v1/models lists sim; a 1-token completion answered 200" in first.stdout
    assert revision(rc) == 1 and deployment(rc)["status"]["availableReplicas"] == 2

    url = wait_for(
        lambda: rc.cluster.info()["services"].get(f"{NS}/{APP}:8000"), what="the Service's port"
    )
    traffic = BackgroundLoad(url)
    try:
        # v2: a spec change rolls out (through scripts/deploy.sh).
        second = run(rc, str(v2), script="deploy.sh")
        assert second.returncode == 0, second.stdout + second.stderr
        assert revision(rc) == 2 and deployed_spec(rc)["engine"]["simulated"]["itl_ms"] == 9

        # v3: TTFT x10 as a canary: the gate aborts; the stable Deployment is untouched.
        generation = deployment(rc)["metadata"]["generation"]
        gate = [
            "--prometheus-url",
            prometheus,
            "--weight",
            "0.3",
            "--analysis-interval",
            "6",
            "--steps",
            "2",
        ]
        aborted = run(rc, "canary", "-f", str(v3), *gate)
        assert aborted.returncode == 1, aborted.stdout + aborted.stderr
        assert (
            "step 1: FAIL: ttft p95" in aborted.stdout and "x stable's (max 1.5x)" in aborted.stdout
        )
        assert aborted.stderr.startswith("error: canary aborted: ttft p95")
        assert deployment(rc)["metadata"]["generation"] == generation
        assert deployed_spec(rc)["engine"]["simulated"]["ttft_ms"] == 40
        assert gone(rc.apps.read_namespaced_deployment, f"{APP}-canary", NS)
        assert gone(rc.core.read_namespaced_config_map, f"{APP}-canary", NS)

        # v4: a healthy canary passes every step and is promoted.
        promoted = run(rc, "canary", "-f", str(v4), *gate)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert promoted.stdout.count(": PASS") == 2 and "promoting" in promoted.stdout
        assert revision(rc) == 3 and deployed_spec(rc)["engine"]["simulated"]["itl_ms"] == 7
        assert gone(rc.apps.read_namespaced_deployment, f"{APP}-canary", NS)

        # Back to v2: its ReplicaSet returns under a new revision, with v2's whole spec.
        back = run(rc, str(v4), "--to-revision", "2", script="rollback.sh")
        assert back.returncode == 0, back.stdout + back.stderr
        assert revision(rc) == 4 and deployed_spec(rc)["engine"]["simulated"]["itl_ms"] == 9
        revisions = {
            rs.metadata.annotations["deployment.kubernetes.io/revision"]
            for rs in rc.apps.list_namespaced_replica_set(
                NS, label_selector="app.kubernetes.io/instance=sim"
            ).items
        }
        assert revisions == {"1", "3", "4"}
        history = run(rc, "history", "-f", str(v1), "-o", "json")
        assert [r["number"] for r in json.loads(history.stdout)] == [1, 3, 4]

        # Scale: a replica count is refused under the HPA; its bounds move instead.
        refused = run(rc, "scale", "-f", str(v1), "--replicas", "5")
        assert (
            refused.returncode == 2
            and "is scaled by HorizontalPodAutoscaler vllm-sim" in refused.stderr
        )
        scaled = run(rc, str(v1), "--min", "3", "--max", "4", script="scale.sh")
        assert scaled.returncode == 0, scaled.stdout + scaled.stderr
        hpa = client.AutoscalingV2Api(rc.api).read_namespaced_horizontal_pod_autoscaler(APP, NS)
        assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (3, 4)
        assert deployment(rc)["status"]["availableReplicas"] == 3

        status = run(rc, "status", "-f", str(v1), "--prometheus-url", prometheus, "-o", "json")
        report = json.loads(status.stdout)
        assert report["revision"] == 4 and len([p for p in report["pods"] if p["ready"]]) == 3
        assert report["autoscaler"]["min"] == 3 and report["slo"]["measured"]["ttft_p95_s"] < 2.0
    finally:
        summary = traffic.stop()
    assert summary["total"] > 100
    assert summary["failed"] == 0 and summary["truncated"] == 0, summary


def _sick_spec(path: Path, **changes: Any) -> Path:
    """The one-replica "sick" model the rollback and dry-run tests deploy, with changes."""
    return write_spec(
        path,
        name="sick",
        namespace="llm-sick",
        autoscaling={"enabled": False},
        replicas=1,
        **changes,
    )


def test_a_deploy_that_never_gets_ready_is_rolled_back(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    rc = cluster
    good = _sick_spec(tmp_path / "good.yaml")
    bad = _sick_spec(tmp_path / "bad.yaml", engine={"simulated": {"startup_s": 1000}})
    assert run(rc, "deploy", "-f", str(good)).returncode == 0
    failed = run(rc, "deploy", "-f", str(bad), "--timeout", "15")
    assert failed.returncode == 1
    message = failed.stderr
    assert message.startswith(
        'error: timed out after 15 s: Waiting for deployment "vllm-sick" rollout to finish'
    )
    assert (
        "pod vllm-sick-" in message
        and "Startup probe failed: HTTP probe failed with statuscode: 503" in message
    )
    assert "last log lines of vllm:" in message
    assert "rolled back to the previous spec (now revision 3)" in message
    d = rc.api.sanitize_for_serialization(
        rc.apps.read_namespaced_deployment("vllm-sick", "llm-sick")
    )
    assert (
        json.loads(d["metadata"]["annotations"]["vllm-deploy.io/spec"])["engine"]["simulated"][
            "startup_s"
        ]
        == 1
    )
    assert d["status"]["availableReplicas"] == 1


def test_dry_run_shows_the_change_and_changes_nothing(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    rc = cluster
    spec = _sick_spec(tmp_path / "dry.yaml", engine={"simulated": {"itl_ms": 11}})
    before = rc.apps.read_namespaced_deployment("vllm-sick", "llm-sick").metadata.resource_version
    dry = run(rc, "deploy", "-f", str(spec), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        "deployment/vllm-sick configured (" in dry.stdout
        and "spec.template.spec.containers[0].args" in dry.stdout
    )
    assert "configmap/vllm-sick unchanged (dry run)" in dry.stdout
    assert (
        rc.apps.read_namespaced_deployment("vllm-sick", "llm-sick").metadata.resource_version
        == before
    )


def test_bad_input_is_one_line_naming_the_thing(cluster: RunningCluster, tmp_path: Path) -> None:
    rc = cluster
    spec = str(ROOT / "examples" / "local.yaml")
    unknown = run(rc, "status", "-f", spec, "--context", "nope")
    assert unknown.returncode == 2
    assert (
        unknown.stderr
        == f"error: context 'nope' is not in {rc.kubeconfig} (it has: vllm-deploy-local)\n"
    )

    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(rc.kubeconfig.read_text().replace(rc.cluster.api_url, "http://127.0.0.1:9"))
    unreachable = subprocess.run(
        [sys.executable, "-m", "vllm_deploy", "deploy", "-f", spec, "--kubeconfig", str(dead)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith(
        "error: cannot reach the API server at http://127.0.0.1:9: "
    )
    assert len(unreachable.stderr.splitlines()) == 1

    try:
        rc.core.create_namespace({"metadata": {"name": NS}})
    except client.ApiException as exc:
        assert exc.status == 409  # the story above made it
    secret = write_spec(
        tmp_path / "secret.yaml", name="locked", secrets={"api_keys": {"name": "keys", "key": "k"}}
    )
    missing = run(rc, "deploy", "-f", str(secret))
    assert missing.returncode == 1
    assert (
        "FAIL  Secret llm/keys (secrets.api_keys): not found -> fix: kubectl -n llm create secret"
        in missing.stdout
    )
    assert missing.stderr == "error: preflight failed: Secret llm/keys (secrets.api_keys)\n"
    assert gone(rc.apps.read_namespaced_deployment, "vllm-locked", NS)  # nothing applied
    assert gone(rc.core.read_namespaced_config_map, "vllm-locked", NS)

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text((ROOT / "examples" / "local.yaml").read_text() + "replicass: 3\n")
    invalid = run(rc, "deploy", "-f", str(wrong))
    assert (invalid.returncode, invalid.stderr) == (
        2,
        f"error: {wrong}: replicass: unknown field\n",
    )

    absent = run(rc, "history", "-f", str(tmp_path / "absent.yaml"))
    assert (absent.returncode, absent.stderr) == (
        2,
        f"error: {tmp_path / 'absent.yaml'}: no such file\n",
    )


def test_a_refused_object_says_what_was_applied_and_what_was_not(cluster: RunningCluster) -> None:
    from vllm_deploy.kube.apply import ApplyFailed, apply_objects

    def config_map(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
        }

    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"ports": [{"port": 70000}]},
    }
    with pytest.raises(ApplyFailed) as refused:
        apply_objects(
            cluster.api,
            [
                config_map("a"),
                bad,
                {**config_map("z"), "kind": "PodMonitor", "apiVersion": "monitoring.coreos.com/v1"},
            ],
        )
    message = str(refused.value)
    assert message.startswith("service/bad was refused: 422 ")
    assert "spec.ports[0].port" in message
    assert message.endswith("applied before it: configmap/a; not applied: podmonitor/z")
    assert not gone(cluster.core.read_namespaced_config_map, "a", "default")
