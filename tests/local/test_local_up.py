"""``vllm-deploy local up`` as a user runs it: the kubeconfig and local.json appear, the
official client works against it, and SIGINT stops every pod gracefully and exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubernetes import client, config

from tests.local.conftest import needs_root, wait_for


def test_local_up_serves_until_sigint_then_stops_pods_gracefully(tmp_path: Path) -> None:
    needs_root()
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm_deploy",
            "local",
            "up",
            "--state-dir",
            str(state),
            "--nodes",
            "1",
            "--gpus-per-node",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        info_path = state / "local.json"
        wait_for(lambda: info_path.exists() and (state / "kubeconfig").exists(), what="local.json")
        info = json.loads(info_path.read_text())
        assert {"api", "kubeconfig", "services", "nginx_access_log", "prometheus", "logs"} <= set(
            info
        )
        api = config.new_client_from_config(str(state / "kubeconfig"))
        core = client.CoreV1Api(api)
        assert [n.metadata.name for n in core.list_node().items] == ["node-0"]
        # A container that writes a line on SIGTERM: the stop must deliver it, not SIGKILL.
        script = 'trap "echo got TERM; exit 0" TERM; echo up; while true; do sleep 0.1; done'
        pod = {
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "c", "image": "x", "command": ["sh", "-c", script]}],
                "terminationGracePeriodSeconds": 20,
            },
        }
        core.create_namespaced_pod("default", pod)
        wait_for(lambda: "up" in core.read_namespaced_pod_log("p", "default"), what="the pod's log")
    finally:
        proc.send_signal(signal.SIGINT)
        began = time.monotonic()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert time.monotonic() - began < 20  # the pod stopped on SIGTERM, within its grace
    log = (state / "logs" / "default_p_c.0.log").read_text()
    assert log.splitlines() == ["up", "got TERM"]
