"""``vllm-deploy rehearse`` end to end, as a user runs it: each scenario starts its own local
cluster, applies examples/local.yaml and drives streamed load through nginx. Counts are small
here (the 2000-request runs are ``make rehearse``, with numbers in docs/rehearsals.md); the
report's checks are measured (request ids joined with nginx's access log, pod and Event
timestamps from the official client), and the tests read nginx's log again themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.local.conftest import needs_root

ROOT = Path(__file__).parents[2]


def rehearse(tmp_path: Path, scenario: str, *args: str) -> dict[str, Any]:
    needs_root()
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vllm_deploy",
            "rehearse",
            scenario,
            "-f",
            str(ROOT / "examples" / "local.yaml"),
            "--report",
            str(report),
            "--state-dir",
            str(tmp_path / "cluster"),
            "--hpa-sync",
            "2",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert report.exists(), done.stdout + done.stderr
    result: dict[str, Any] = json.loads(report.read_text())
    failed = [c for c in result["checks"] if not c["passed"]]
    assert done.returncode == 0 and not failed, json.dumps(failed, indent=1) + done.stderr[-2000:]
    for key in ("scenario", "requests", "pods", "replicas_timeline", "nginx_access_log", "timings"):
        assert key in result
    return result


def nginx_entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    lines = Path(result["nginx_access_log"]).read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["uri"] == "/v1/chat/completions"]


def test_rollout_under_load_drops_nothing(tmp_path: Path) -> None:
    result = rehearse(tmp_path, "rollout", "--replicas", "2", "--requests", "80")
    assert result["requests"]["total"] == 80
    assert result["requests"]["ok"] == 80
    statuses = {e["status"] for e in nginx_entries(result)}
    assert statuses == {200}  # no 5xx, no 499
    old = [p for p in result["pods"] if p["revision"] == "1"]
    assert len(old) == 2
    for pod in old:
        assert pod["drains"][-1]["drained"] and pod["exit_code"] == 0 and pod["exited_within_grace"]
    assert len([p for p in result["pods"] if p["revision"] == "2" and p["ready"] is not None]) == 2


def test_kill_fails_only_what_was_in_flight_and_recovers(tmp_path: Path) -> None:
    result = rehearse(tmp_path, "kill", "--replicas", "2", "--requests", "80")
    killed = next(e for e in result["events"] if e["event"] == "SIGKILL")
    pod = next(p for p in result["pods"] if p["name"] == killed["pod"])
    assert pod["restarts"] == 1
    assert result["requests"]["ok"] == result["requests"]["total"] == 80  # retries got through
    others = {p["ip"] for p in result["pods"] if p["name"] != killed["pod"]}
    assert all(
        e["status"] == 200 for e in nginx_entries(result) if e["upstream"].split(":")[0] in others
    )


def test_stall_is_restarted_by_liveness_and_leaves_the_service(tmp_path: Path) -> None:
    result = rehearse(tmp_path, "stall", "--replicas", "2", "--requests", "80")
    hung = next(e for e in result["events"] if e["event"] == "engine hang injected")
    pod = next(p for p in result["pods"] if p["name"] == hung["pod"])
    reasons = [e["reason"] for e in pod["events"]]
    assert "Killing" in reasons and pod["restarts"] == 1
    assert result["requests"]["failed"] == 0  # cut streams are truncated, never errors


def test_burst_scales_out_to_pending_and_back_in(tmp_path: Path) -> None:
    args = ["--concurrency", "8", "--burst-seconds", "12", "--settle-seconds", "60"]
    result = rehearse(tmp_path, "burst", *args)
    desired = [p[1] for p in result["replicas_timeline"]]
    assert max(desired) == 4 and desired[-1] == 2
    assert result["gpus_in_cluster"] == 3  # one pod's GPU short of max_replicas
    assert any(p["pending_unschedulable"] for p in result["pods"])
