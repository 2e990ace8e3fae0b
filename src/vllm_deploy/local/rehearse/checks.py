"""What each rehearsal must show (issue acceptance, as checks in the report).

Each check is ``{"name", "passed", "detail"}``; the report passes when all do. Times in the
report are seconds since the rehearsal began; pod timestamps have one-second resolution, as
the API's, so time bounds carry one second of slack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from vllm_deploy.local.rehearse.load import RequestRecord
from vllm_deploy.spec import DeploymentSpec

__all__ = ["CHECKS"]

Report = dict[str, Any]
Check = dict[str, Any]


def _check(name: str, passed: bool, detail: Any) -> Check:
    return {"name": name, "passed": bool(passed), "detail": detail}


def _event(report: Report, what: str) -> dict[str, Any] | None:
    return next((e for e in report["events"] if e["event"] == what), None)


def _pod(report: Report, name: str) -> dict[str, Any]:
    return next(p for p in report["pods"] if p["name"] == name)


def _nginx_requests(report: Report) -> list[dict[str, Any]]:
    """Each request in nginx's log, with its start (seconds since the rehearsal began)."""
    out: list[dict[str, Any]] = []
    log = Path(report["nginx_access_log"])
    if not log.exists():
        return out
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if not entry.get("uri", "").startswith("/v1/"):
            continue
        end = datetime.fromisoformat(entry["time"]).timestamp() - report["started"]
        out.append({**entry, "start": end - float(entry.get("request_time") or 0)})
    return out


def rollout(report: Report, spec: DeploymentSpec, records: list[RequestRecord]) -> list[Check]:
    req, nginx = report["requests"], report["nginx"]
    revisions = [int(p["revision"]) for p in report["pods"] if p["revision"]]
    newest = max(revisions, default=0)
    old = [p for p in report["pods"] if p["revision"] and int(p["revision"]) < newest]
    new = [p for p in report["pods"] if p["revision"] and int(p["revision"]) == newest]
    drained = [p["name"] for p in old if p["drains"] and p["drains"][-1]["drained"]]
    clean_exit = [p["name"] for p in old if p["exit_code"] == 0 and p["exited_within_grace"]]
    return [
        _check("no failed request", req["failed"] == 0, req["by_status"]),
        _check("no truncated stream", req["truncated"] == 0, req["truncated"]),
        _check("nginx saw no 5xx and no 499", nginx["5xx"] == 0 and nginx["499"] == 0, nginx["by_status"]),
        _check("a new revision rolled out", len(new) >= spec.replicas and all(p["ready"] is not None for p in new),
               {"revision": newest, "pods": [p["name"] for p in new]}),
        _check("every old pod drained (preStop) before it exited", bool(old) and len(drained) == len(old),
               {"old": [p["name"] for p in old], "drained": drained}),
        _check("every old pod exited 0 within its grace period", bool(old) and len(clean_exit) == len(old),
               {p["name"]: [p["exit_code"], p["terminated"], p["deletion_deadline"]] for p in old}),
    ]  # fmt: skip


def kill(report: Report, spec: DeploymentSpec, records: list[RequestRecord]) -> list[Check]:
    killed = _event(report, "SIGKILL")
    if killed is None:
        return [_check("a pod was killed", False, None)]
    pod = _pod(report, killed["pod"])
    failures = [e for e in _nginx_requests(report) if e["status"] >= 500 or e["status"] == 499]
    elsewhere = [e for e in failures if not str(e.get("upstream", "")).startswith(f"{pod['ip']}:")]
    first_failed = report["requests"]["first_attempt_failed"]
    return [
        _check("only requests on the killed pod failed", not elsewhere,
               {"failed_attempts": first_failed, "nginx_failures": len(failures), "elsewhere": elsewhere[:5]}),
        _check("failures were at most the requests in flight", first_failed <= killed["in_flight"] + spec.replicas,
               {"failed": first_failed, "in_flight_at_kill": killed["in_flight"]}),
        _check("the killed pod's container restarted and became ready again",
               pod["restarts"] >= 1 and any(t > killed["t"] for t in pod["ready_transitions"]),
               {"restarts": pod["restarts"], "ready_transitions": pod["ready_transitions"], "killed_at": killed["t"]}),
        _check("clients retrying got through", report["requests"]["ok"] == report["requests"]["total"],
               report["requests"]),
    ]  # fmt: skip


def stall(report: Report, spec: DeploymentSpec, records: list[RequestRecord]) -> list[Check]:
    hung = _event(report, "engine hang injected")
    if hung is None:
        return [_check("an engine was stalled", False, None)]
    pod = _pod(report, hung["pod"])
    probes = spec.probes
    detect = (
        spec.observability.watchdog_stall_s
        + probes.liveness_period_s * probes.liveness_failure_threshold
    )
    restart_budget = detect + spec.engine.shutdown_timeout_s + spec.drain.margin_s + 1.0
    restarted = [t for t in pod["container_starts"] if t > hung["t"]]
    unready_by = (
        hung["t"]
        + spec.observability.watchdog_stall_s
        + probes.readiness_period_s * probes.readiness_failure_threshold
        + 1.0
    )
    late = [e for e in _nginx_requests(report)
            if str(e.get("upstream", "")).startswith(f"{pod['ip']}:") and unready_by < e["start"] < (restarted or [1e18])[0]]  # fmt: skip
    return [
        _check("the stalled pod was restarted by its liveness probe within the stall timeout plus "
               "the probe's detection time and the kill's grace",
               bool(restarted) and restarted[0] - hung["t"] <= restart_budget,
               {"injected_at": hung["t"], "restarted_at": restarted[:1], "budget_s": restart_budget}),
        _check("the stalled pod received no new request once readiness saw the stall", not late,
               {"unready_by": unready_by, "late_requests": late[:5]}),
        _check("the pod became ready again after its restart",
               any(t > hung["t"] for t in pod["ready_transitions"]), pod["ready_transitions"]),
    ]  # fmt: skip


def burst(report: Report, spec: DeploymentSpec, records: list[RequestRecord]) -> list[Check]:
    timeline = report["replicas_timeline"]
    desired = [p[1] for p in timeline]
    floor, ceiling = spec.autoscaling.min_replicas, spec.autoscaling.max_replicas
    pending = [p["name"] for p in report["pods"] if p["pending_unschedulable"]]
    gpus = report.get("gpus_in_cluster")
    checks = [
        _check("replicas rose under the burst", max(desired, default=0) > floor, timeline),
        _check("replicas stayed within min and max", all(floor <= d <= ceiling for d in desired), timeline),
        _check("replicas returned to the minimum after the scale-down window",
               bool(desired) and desired[-1] == floor, timeline[-3:]),
        _check("no failed request", report["requests"]["failed"] == 0, report["requests"]["by_status"]),
    ]  # fmt: skip
    if gpus is not None and ceiling > gpus:
        checks.append(_check("pods were Pending when the fake GPUs ran out", bool(pending),
                             {"gpus": gpus, "pending": pending}))  # fmt: skip
    return checks


CHECKS: dict[str, Callable[[Report, DeploymentSpec, list[RequestRecord]], list[Check]]] = {
    "rollout": rollout, "kill": kill, "stall": stall, "burst": burst,
}  # fmt: skip
