"""The full-size rehearsals on the local cluster (``make rehearse``, as root): each scenario as
a user runs it, with examples/local.yaml. Reports go to benchmarks/results/rehearsals/; the
table printed at the end is the one in docs/rehearsals.md.

    sudo .venv/bin/python benchmarks/rehearsals.py [--only rollout]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
OUT = ROOT / "benchmarks" / "results" / "rehearsals"
SPEC = ROOT / "examples" / "local.yaml"

# Scenario -> the CLI's arguments. A fixed fleet of 3 for rollout, kill and stall; burst
# uses the spec's autoscaler (min 2, max 4) with the upstream default HPA sync of 15 s.
RUNS: dict[str, list[str]] = {
    "rollout": ["--replicas", "3", "--requests", "2000"],
    "kill": ["--replicas", "3", "--requests", "2000"],
    "stall": ["--replicas", "3", "--requests", "500"],
    "burst": ["--concurrency", "16", "--burst-seconds", "60", "--settle-seconds", "180"],
}


def run(scenario: str) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    report = OUT / f"{scenario}.json"
    state = OUT / f"{scenario}-cluster"
    subprocess.run(["rm", "-rf", str(state)], check=True)
    argv = [
        sys.executable,
        "-m",
        "vllm_deploy",
        "rehearse",
        scenario,
        "-f",
        str(SPEC),
        "--report",
        str(report),
        "--state-dir",
        str(state),
        *RUNS[scenario],
    ]
    began = time.monotonic()
    done = subprocess.run(argv, check=False)
    print(f"{scenario}: exit {done.returncode} in {time.monotonic() - began:.0f} s", flush=True)
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def outcome(r: dict[str, Any]) -> str:
    req, nginx = r["requests"], r["nginx"]
    text = (
        f"{req['total']} requests: {req['ok']} ok, {req['failed']} failed, "
        f"{req['truncated']} truncated; nginx {nginx['by_status']}"
    )
    if req.get("retried"):
        text += f"; {req['first_attempt_failed']} first attempts failed, all retried"
    return text


def measured(r: dict[str, Any]) -> str:
    details = {c["name"]: c["detail"] for c in r["checks"]}
    scenario = r["scenario"]
    if scenario == "rollout":
        old = [p for p in r["pods"] if p["revision"] and int(p["revision"]) < 2]
        drains = [p["drains"][-1]["duration_seconds"] for p in old if p["drains"]]
        exits = [round(p["terminated"] - (p["deletion_deadline"] - p["grace_s"]), 1) for p in old]
        return (
            f"old pods drained in {drains} s, exited {exits} s after deletion "
            f"(grace {old[0]['grace_s']} s)"
        )
    if scenario == "kill":
        d = next(v for k, v in details.items() if k.startswith("only requests on the killed pod"))
        ready = details["a replacement became ready (the container restarted)"]
        killed = ready["killed_at"]
        back = min(t for t in ready["ready_transitions"] if t > killed) - killed
        gone = f"{d['unready_at'] - killed:.2f} s" if d["unready_at"] is not None else "?"
        return (
            f"{d['in_flight_on_pod']} in flight on the pod, "
            f"{d['failed_in_flight']} of them failed; "
            f"{len(d['failed_before_endpoint_removal'])} failed that reached it before it left "
            f"the endpoints ({gone} after the kill); ready again {back:.1f} s after"
        )
    if scenario == "stall":
        k = details[
            "the liveness probe killed the stalled pod "
            "within the stall timeout plus one probe period"
        ]
        u = details["the stalled pod received no new request once it was unready"]
        return (
            f"liveness kill {k['liveness_kill_at'] - k['injected_at']:.1f} s after the hang "
            f"(budget {k['budget_s']:g} s); "
            f"unready at +{u['unready_at'] - k['injected_at']:.1f} s, "
            f"{len(u['late_requests'])} requests after"
        )
    rise = details.get("replicas rose within one HPA sync of the burst", {})
    drop = details.get("scale-in waited for the stabilisation window", {})
    pending = details.get("pods were Pending when the fake GPUs ran out", {}).get("pending", [])
    timeline = r["replicas_timeline"]
    return (
        f"{timeline[0][1]}→{max(p[1] for p in timeline)} replicas "
        f"{rise.get('rose_at', 0) - rise.get('burst_at', 0):.1f} s after the burst; "
        "first scale-in "
        f"{drop.get('first_drop_at', 0) - drop.get('load_stopped_at', 0):.1f} s "
        "after the load stopped; "
        f"Pending: {len(pending)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    args = parser.parse_args()
    results = [run(s) for s in (args.only or RUNS)]
    print("\n| scenario | requests | measured | checks |\n|---|---|---|---|")
    for r in results:
        passed = sum(c["passed"] for c in r["checks"])
        print(
            f"| {r['scenario']} | {outcome(r)} | {measured(r)} | {passed}/{len(r['checks'])} pass |"
        )
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
