"""What each rehearsal must show (issue acceptance, as checks in the report).

Each check is ``{"name", "passed", "detail"}``; the report passes when all do. Times in the
report are seconds since the rehearsal began; pod timestamps have one-second resolution, as
the API's, so time bounds carry one second of slack.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
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
    """Each request in nginx's log with its ``start`` and ``end`` (seconds since the load
    began, millisecond resolution: nginx's $msec less $request_time)."""
    out: list[dict[str, Any]] = []
    log = Path(report["nginx_access_log"])
    if not log.exists():
        return out
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if not entry.get("uri", "").startswith("/v1/"):
            continue
        end = float(entry["msec"]) - report["started"]
        out.append({**entry, "start": end - float(entry.get("request_time") or 0), "end": end})
    return out


def _on(entries: list[dict[str, Any]], pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries nginx sent to the pod (its last upstream, when it tried several)."""
    ip = f"{pod['ip']}:"
    return [e for e in entries if str(e.get("upstream", "")).split(", ")[-1].startswith(ip)]


def _first_attempts_not_ok(records: list[RequestRecord]) -> set[str]:
    return {r.request_id(1) for r in records if r.first_outcome not in ("ok", "")}


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
        _check(
            "nginx saw no 5xx and no 499",
            nginx["5xx"] == 0 and nginx["499"] == 0,
            nginx["by_status"],
        ),
        _check(
            "a new revision rolled out",
            len(new) >= spec.replicas and all(p["ready"] is not None for p in new),
            {"revision": newest, "pods": [p["name"] for p in new]},
        ),
        _check(
            "every old pod drained (preStop) before it exited",
            bool(old) and len(drained) == len(old),
            {"old": [p["name"] for p in old], "drained": drained},
        ),
        _check(
            "every old pod exited 0 within its grace period",
            bool(old) and len(clean_exit) == len(old),
            {p["name"]: [p["exit_code"], p["terminated"], p["deletion_deadline"]] for p in old},
        ),
    ]


def kill(report: Report, spec: DeploymentSpec, records: list[RequestRecord]) -> list[Check]:
    killed = _event(report, "SIGKILL")
    if killed is None:
        return [_check("a pod was killed", False, None)]
    pod = _pod(report, killed["pod"])
    t = killed["t"]
    on_pod = _on(_nginx_requests(report), pod)
    # In flight at the kill, which happened between the signal's request and its answer.
    in_flight = {e["request_id"] for e in on_pod if e["start"] <= t and e["end"] >= killed["sent"]}
    # Until the pod leaves the endpoints, new connections still reach its IP and are refused,
    # as kube-proxy routes them (the Service's nginx does not retry another pod either).
    gone = next((u for u in pod["unready_seen"] if u >= killed["sent"]), None)
    before_gone = {
        e["request_id"]
        for e in on_pod
        if e["start"] > t and (gone is None or e["start"] <= gone + 0.5)
    }
    failed = _first_attempts_not_ok(records)
    elsewhere = sorted(failed - in_flight - before_gone)
    # startedAt has whole seconds: the new run may read up to 1 s before the kill.
    restarted = [s for s in pod["container_starts"] if s > t - 1]
    return [
        _check(
            "only requests on the killed pod failed: in flight, or sent before it left the "
            "endpoints",
            bool(failed) and not elsewhere,
            {
                "failed_first_attempts": len(failed),
                "in_flight_on_pod": len(in_flight),
                "failed_in_flight": len(failed & in_flight),
                "failed_before_endpoint_removal": sorted(failed & before_gone),
                "unready_at": gone,
                "failed_elsewhere": elsewhere[:10],
            },
        ),
        _check(
            "a replacement became ready (the container restarted)",
            pod["restarts"] >= 1
            and bool(restarted)
            and any(r > t for r in pod["ready_transitions"]),
            {
                "killed_at": t,
                "restarted_at": restarted[:1],
                "ready_transitions": pod["ready_transitions"],
            },
        ),
        _check(
            "clients retrying got through",
            report["requests"]["ok"] == report["requests"]["total"],
            report["requests"],
        ),
    ]


def stall(report: Report, spec: DeploymentSpec, records: list[RequestRecord]) -> list[Check]:
    hung = _event(report, "engine hang injected")
    if hung is None:
        return [_check("an engine was stalled", False, None)]
    pod = _pod(report, hung["pod"])
    t, probes = hung["t"], spec.probes
    # The stall is seen by the watchdog after watchdog_stall_s, by the liveness probe within
    # its period times its failure threshold; Event timestamps are whole seconds (+1).
    budget = (
        spec.observability.watchdog_stall_s
        + probes.liveness_period_s * probes.liveness_failure_threshold
        + 1.0
    )
    kills = [
        e["t"]
        for e in pod["events"]
        if e["reason"] == "Killing" and "liveness" in (e["message"] or "")
    ]
    kill_t = next((k for k in kills if k >= t - 1), None)
    restarted = [s for s in pod["container_starts"] if s > t]
    # The liveness probe's own terminationGracePeriodSeconds (render/workload.py).
    liveness_grace = spec.engine.shutdown_timeout_s + spec.drain.margin_s
    unready = next((u for u in pod["unready_seen"] if u > t), None)
    on_pod = _on(_nginx_requests(report), pod)
    # "At once": nothing new after the Ready condition went False, but the time the endpoint
    # change takes to reach nginx (a watch event and a reload).
    late = [
        e["request_id"]
        for e in on_pod
        if unready is not None
        and e["start"] > unready + 0.5
        and (not restarted or e["start"] < restarted[0])
    ]
    cut = _first_attempts_not_ok(records)
    cut_elsewhere = sorted(cut - {e["request_id"] for e in on_pod})
    return [
        _check(
            "the liveness probe killed the stalled pod within the stall timeout plus one "
            "probe period",
            kill_t is not None and kill_t - t <= budget,
            {"injected_at": t, "liveness_kill_at": kill_t, "budget_s": budget},
        ),
        _check(
            "the pod restarted within its grace period after the kill and became ready again",
            kill_t is not None
            and bool(restarted)
            and restarted[0] - kill_t <= liveness_grace + 1
            and any(r > restarted[0] - 1 for r in pod["ready_transitions"]),
            {
                "restarted_at": restarted[:1],
                "grace_period_s": liveness_grace,
                "ready_transitions": pod["ready_transitions"],
            },
        ),
        _check(
            "the stalled pod received no new request once it was unready",
            unready is not None and not late,
            {"unready_at": unready, "late_requests": late[:10]},
        ),
        _check(
            "only requests on the stalled pod were cut",
            not cut_elsewhere,
            {"cut": len(cut), "elsewhere": cut_elsewhere[:10]},
        ),
    ]


def burst(report: Report, spec: DeploymentSpec, records: list[RequestRecord]) -> list[Check]:
    timeline = report["replicas_timeline"]
    desired = [p[1] for p in timeline]
    scaling = spec.autoscaling
    floor, ceiling = scaling.min_replicas, scaling.max_replicas
    pending = [p["name"] for p in report["pods"] if p["pending_unschedulable"]]
    gpus = report.get("gpus_in_cluster")
    checks = [
        _check(
            "replicas stayed within min and max",
            all(floor <= d <= ceiling for d in desired),
            timeline,
        ),
        _check(
            "replicas returned to the minimum after the scale-down window",
            bool(desired) and desired[-1] == floor,
            timeline[-3:],
        ),
        _check(
            "no failed request", report["requests"]["failed"] == 0, report["requests"]["by_status"]
        ),
    ]
    # Open loop, the load goes back to its base rate when the burst ends: scale-in starts there.
    surge = _event(report, "burst")
    stopped = _event(report, "burst ended") or _event(report, "load stopped")
    sync = report.get("hpa_sync_s")
    rise = next((p[0] for p in timeline if surge and p[0] >= surge["t"] and p[1] > floor), None)
    if sync is None or surge is None or stopped is None:
        checks.append(_check("replicas rose under the burst", rise is not None, timeline))
    else:
        # The HPA acts at its next sync on what Prometheus scraped (1 s) and the adapter read.
        bound = sync + 2 * report.get("scrape_interval_s", 1.0) + 4.0  # + the queue building up
        checks.append(
            _check(
                "replicas rose within one HPA sync of the burst",
                rise is not None and rise - surge["t"] <= bound,
                {"burst_at": surge["t"], "rose_at": rise, "bound_s": bound},
            )
        )
        # Scale-in: the window's highest recommendation holds, then scale_down_pods per period.
        drops = [
            (b[0], a[1] - b[1])
            for a, b in itertools.pairwise(timeline)
            if b[1] < a[1] and b[0] > stopped["t"]
        ]
        earliest = stopped["t"] + scaling.scale_down_stabilisation_s - sync - 1.0
        # A trace's burst can outlast the queue: the HPA may be back at the floor before it
        # ends, and then there is no scale-in left to wait.
        at_stop = next((p[1] for p in reversed(timeline) if p[0] <= stopped["t"]), None)
        checks.append(
            _check(
                "scale-in waited for the stabilisation window",
                drops[0][0] >= earliest if drops else at_stop == floor,
                {
                    "load_stopped_at": stopped["t"],
                    "desired_then": at_stop,
                    "first_drop_at": drops[0][0] if drops else None,
                    "earliest_s": round(earliest, 3),
                },
            )
        )
        # Samples are 0.5 s apart: a period can look up to one sample shorter.
        spaced = all(d[1] <= scaling.scale_down_pods for d in drops) and all(
            later[0] - earlier[0] >= scaling.scale_down_period_s - 0.5
            for earlier, later in itertools.pairwise(drops)
        )
        checks.append(
            _check(
                "scale-in removed at most scale_down_pods per scale_down_period_s",
                spaced,
                {
                    "drops": drops,
                    "pods": scaling.scale_down_pods,
                    "period_s": scaling.scale_down_period_s,
                },
            )
        )
    if gpus is not None and ceiling > gpus:
        checks.append(
            _check(
                "pods were Pending when the fake GPUs ran out",
                bool(pending),
                {"gpus": gpus, "pending": pending},
            )
        )
    return checks


CHECKS: dict[str, Callable[[Report, DeploymentSpec, list[RequestRecord]], list[Check]]] = {
    "rollout": rollout,
    "kill": kill,
    "stall": stall,
    "burst": burst,
}
