"""The capacity simulator against the local cluster, on one open-loop trace (docs/capacity.md).

1. Calibrate: one `vllm-deploy serve` with the engine arguments the spec renders for its
   pods (the simulated engine), measured by `calibrate`.
2. Cluster: `vllm-deploy rehearse burst -f SPEC --trace TRACE` (root): the local cluster
   with the spec's HPA (sync 15 s, Prometheus scraping every 1 s, one pod's GPUs short of
   max replicas), the trace sent open loop through nginx; the report has every request.
3. Simulator: the same trace (same text, duration and seed), the spec as rendered, the
   calibrated profile, the cluster's GPUs, scrape interval and HPA sync period, its HPA's
   phase against the trace, and the pod start chain measured in step 2.
4. Compare the replica timelines and TTFT per phase; print the table, write JSON and a plot.

    sudo .venv/bin/python benchmarks/validate_sim_cluster.py [--runs 2] \
        [--plot docs/capacity-cluster.png]
    .venv/bin/python benchmarks/validate_sim_cluster.py --reuse   # the last cluster reports

--trace, --duration, --hpa-sync and --profile make a short run
(tests/local/test_validate_sim_cluster.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from sim_cluster_compare import (
    Summary,
    cluster_summary,
    rows,
    sim_summary,
    steps_text,
    table,
)
from sim_cluster_plot import plot
from vllm_deploy.harness import ServerProcess
from vllm_deploy.render import workload
from vllm_deploy.sim.calibrate import calibrate
from vllm_deploy.sim.policies import HpaPolicy, policy_for_spec
from vllm_deploy.sim.profile import EngineProfile, Startup, load_profile
from vllm_deploy.sim.setup import setup_from_spec
from vllm_deploy.sim.simulator import RunResult, simulate
from vllm_deploy.sim.trace import Trace, parse_trace
from vllm_deploy.spec import DeploymentSpec, load_spec

ROOT = Path(__file__).parents[1]
OUT = ROOT / "benchmarks" / "results" / "validate_sim_cluster"
SPEC = ROOT / "examples" / "local.yaml"
# 5x step burst: 3.6 req/s for a minute, 18 req/s for three, 3.6 again for 90 s; 64 +- 16
# prompt and output tokens. Two pods of examples/local.yaml (8 sequences, 8-16 ms ITL) serve
# about 15 req/s of it, three about 22: the burst needs the third pod, and the fourth (its
# GPU missing) stays Pending.
TRACE = "burst:rate=3.6,factor=5,at=60,for=180,prompt=64,prompt_sd=16,output=64,output_sd=16"
DURATION, SEED = 330.0, 1


@dataclass(frozen=True)
class Options:
    """One validation: the trace, the cluster's HPA sync period, where results go."""

    out: Path = OUT
    trace: str = TRACE
    duration_s: float = DURATION
    seed: int = SEED
    hpa_sync_s: float = 15.0
    settle_s: float = 180.0


def load_average() -> float:
    return os.getloadavg()[0]


def engine_args(spec: DeploymentSpec) -> list[str]:
    """The pods' `serve` arguments, less the address (ServerProcess picks its own)."""
    args = list(workload.deployment(spec)["spec"]["template"]["spec"]["containers"][0]["args"])
    args.remove("serve")
    for flag in ("--host", "--port"):
        i = args.index(flag)
        del args[i : i + 2]
    return args


def calibrated_profile(spec: DeploymentSpec, out: Path) -> EngineProfile:
    path = out / "profile.yaml"
    print(f"calibrating: vllm-deploy serve {' '.join(engine_args(spec))}", flush=True)
    with ServerProcess(engine_args(spec)) as server:
        seqs = spec.engine.max_num_seqs or 8
        profile = calibrate(
            server.url, name="local-simulated", max_concurrency=seqs, max_num_seqs=seqs
        )
    path.write_text(yaml.safe_dump(profile.model_dump(), sort_keys=False))
    return profile


def run_cluster(tag: str, opts: Options) -> dict[str, Any]:
    report, state = opts.out / f"cluster-{tag}.json", opts.out / f"cluster-{tag}"
    subprocess.run(["rm", "-rf", str(state)], check=True)
    argv = [
        sys.executable,
        "-m",
        "vllm_deploy",
        "rehearse",
        "burst",
        "-f",
        str(SPEC),
        "--trace",
        opts.trace,
        "--duration",
        str(opts.duration_s),
        "--seed",
        str(opts.seed),
        "--hpa-sync",
        str(opts.hpa_sync_s),
        "--settle-seconds",
        str(opts.settle_s),
        "--report",
        str(report),
        "--state-dir",
        str(state),
    ]
    before, began = load_average(), time.monotonic()
    done = subprocess.run(argv, check=False)
    if not report.exists():
        raise SystemExit(f"rehearse exited {done.returncode} without a report: {report}")
    result: dict[str, Any] = json.loads(report.read_text())
    result["load_average"] = {"before": before, "after": load_average()}
    report.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"cluster run {tag}: exit {done.returncode} in {time.monotonic() - began:.0f} s, "
        f"load average {before:.2f} -> {load_average():.2f}",
        flush=True,
    )
    return result


def trace_offset(report: dict[str, Any]) -> float:
    """When the trace's t = 0 was, in the report's clock."""
    return float(next(e["t"] for e in report["events"] if e["event"] == "trace"))


def measured_timings(report: dict[str, Any]) -> dict[str, float]:
    """From the cluster run: the pods' decision-to-Ready time, Ready-to-first-request time
    (the endpoint reaching nginx), and the HPA's sync phase against the trace."""
    timeline, offset = report["replicas_timeline"], trace_offset(report)
    rises = [b[0] for a, b in itertools.pairwise(timeline) if b[1] > a[1]]
    entries = [
        json.loads(line) for line in Path(report["nginx_access_log"]).read_text().splitlines()
    ]
    starts = sorted(
        (
            float(e["msec"]) - float(e["request_time"] or 0) - report["started"],
            str(e.get("upstream", "")).split(", ")[-1].split(":")[0],
        )
        for e in entries
    )
    to_ready, to_serving = [], []
    for pod in report["pods"]:
        if pod["created"] is None or pod["created"] < 0 or not pod["ready_seen"]:
            continue
        ready = pod["ready_seen"][0]
        if not pod["pending_unschedulable"]:  # created by the HPA's decision, at once
            decision = max((t for t in rises if t <= ready), default=None)
            if decision is not None:
                to_ready.append(ready - decision)
        first = next((t for t, ip in starts if ip == pod["ip"] and t >= ready - 1.0), None)
        if first is not None:
            to_serving.append(max(0.0, first - ready))
    sync = float(report["hpa_sync_s"])
    # Desired replicas change only at a sync; the timeline samples every 0.5 s.
    phase = ((rises[0] - 0.25) - offset) % sync if rises else 0.0
    return {
        "decision_to_ready_s": round(statistics.median(to_ready), 3) if to_ready else 3.0,
        "ready_to_first_request_s": round(statistics.median(to_serving), 3) if to_serving else 1.0,
        "hpa_first_sync_s": round(phase, 3),
        "pods_measured": len(to_ready),
    }


def simulated(
    spec: DeploymentSpec,
    profile: EngineProfile,
    trace: Trace,
    report: dict[str, Any],
    timings: dict[str, float],
    seed: int,
) -> tuple[RunResult, HpaPolicy]:
    readiness = float(spec.probes.readiness_period_s)
    # The sim's chain: schedule delay, boot (passed at a startup-probe tick), one readiness
    # tick. Whole ticks of boot, the rest as schedule delay: Ready at the measured time.
    boot = max(0.0, timings["decision_to_ready_s"] - readiness)
    whole = float(int(boot))
    startup = Startup(image_pull_s=0, download_s=0, load_s=whole, warmup_s=0, jitter=0)
    setup = setup_from_spec(
        spec,
        profile.model_copy(update={"startup": startup}),
        gpus=report["gpus_in_cluster"],
        gpus_per_node=1,
        lb_delay_s=timings["ready_to_first_request_s"],
    )
    cluster = replace(
        setup.cluster,
        scrape_interval_s=float(report["scrape_interval_s"]),
        sync_period_s=float(report["hpa_sync_s"]),
        schedule_delay_s=boot - whole,
        first_sync_s=timings["hpa_first_sync_s"],
    )
    policy = policy_for_spec(spec)
    assert isinstance(policy, HpaPolicy)
    return simulate(replace(setup, cluster=cluster), trace, policy, seed=seed), policy


def perturbations(
    profile: EngineProfile, timings: dict[str, float], sync: float
) -> list[tuple[EngineProfile, dict[str, float]]]:
    """The simulator's measured inputs moved by what a busy 2-core machine moves them: step
    times ±10% (an engine sharing its cores), the HPA's phase ±1 s, a pod's start ±0.5 s."""
    out = []
    for factor in (0.9, 1.1):
        s = profile.step
        step = s.model_copy(
            update={
                k: getattr(s, k) * factor
                for k in (
                    "prefill_base_s",
                    "prefill_per_token_s",
                    "decode_base_s",
                    "decode_per_seq_s",
                )
            }
        )
        out.append((profile.model_copy(update={"step": step}), timings))
    for key, delta, modulo in (
        ("hpa_first_sync_s", 1.0, sync),
        ("decision_to_ready_s", 0.5, None),
    ):
        for sign in (-1, 1):
            value = timings[key] + sign * delta
            value = value % modulo if modulo else max(0.0, value)
            out.append((profile, {**timings, key: round(value, 3)}))
    return out


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in summary.items() if k not in ("desired", "ready", "ttft_s", "hpa_metric")
    }


def compare(
    spec: DeploymentSpec,
    profile: EngineProfile,
    trace: Trace,
    reports: list[dict[str, Any]],
    opts: Options,
) -> tuple[list[Summary], list[Summary], dict[str, Any]]:
    """Each cluster run against a simulation lined up with it; prints the tables."""
    for report in reports:
        seen = report.get("trace") or {}
        if (seen.get("name"), seen.get("requests"), seen.get("duration_s")) != (
            trace.name,
            len(trace),
            trace.duration_s,
        ):
            raise SystemExit(
                f"cluster report trace {seen!r}; expected {trace.name!r}, "
                f"{len(trace)} requests over {trace.duration_s} s"
            )
    s = profile.step
    print(
        f"profile: prefill {s.prefill_base_s * 1e3:.1f} ms"
        f" + {s.prefill_per_token_s * 1e6:.1f} us/token, "
        f"decode {s.decode_base_s * 1e3:.2f} ms + {s.decode_per_seq_s * 1e6:.0f} us/seq, "
        f"interference {s.prefill_interference:.2f}, serial {s.prefill_serial}"
    )
    floor = spec.autoscaling.min_replicas
    clusters = [cluster_summary(trace, floor, r, trace_offset(r)) for r in reports]
    # One simulation per run: each with that run's measured start chain and HPA phase.
    sims, timings = [], []
    for report in reports:
        timings.append(measured_timings(report))
        run, policy = simulated(spec, profile, trace, report, timings[-1], opts.seed)
        sims.append(sim_summary(trace, floor, run, policy))
    perturbed = [
        sim_summary(trace, floor, *simulated(spec, prof, trace, reports[0], t, opts.seed))
        for prof, t in perturbations(profile, timings[0], float(reports[0]["hpa_sync_s"]))
    ]
    for i, (report, c, s_, t) in enumerate(
        zip(reports, clusters, sims, timings, strict=True), start=1
    ):
        print(f"\nrun {i}: measured {json.dumps(t)}; load average {report.get('load_average')}")
        print(f"  cluster:   {steps_text(c)}\n  simulator: {steps_text(s_)}")
        print(table([c], s_, first_run=i))
    print("\nall runs against the simulation lined up with run 1, and its inputs perturbed:")
    print(table(clusters, sims[0], perturbed))
    comparison = {
        "trace": opts.trace,
        "duration_s": opts.duration_s,
        "seed": opts.seed,
        "profile": profile.model_dump(),
        "runs": [
            {
                "measured": t,
                "load_average": r.get("load_average"),
                "cluster": _brief(c),
                "simulator": _brief(s_),
                "rows": rows(c, s_),
            }
            for r, c, s_, t in zip(reports, clusters, sims, timings, strict=True)
        ],
        "perturbed": [rows(clusters[0], p) for p in perturbed],
    }
    return clusters, sims, comparison


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1, help="cluster runs of the trace")
    parser.add_argument("--reuse", action="store_true", help="the last profile and cluster reports")
    parser.add_argument("--out", type=Path, default=OUT, help="the profile, reports, comparison")
    parser.add_argument("--plot", type=Path, help="[default: OUT/capacity-cluster.png]")
    parser.add_argument("--trace", default=TRACE, help="as `simulate --trace`")
    parser.add_argument("--duration", type=float, default=DURATION)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--hpa-sync", type=float, default=15.0, help="the cluster's (s)")
    parser.add_argument("--settle-seconds", type=float, default=180.0, help="as `rehearse`'s")
    parser.add_argument("--profile", type=Path, help="this profile instead of calibrating")
    args = parser.parse_args()
    opts = Options(
        out=args.out,
        trace=args.trace,
        duration_s=args.duration,
        seed=args.seed,
        hpa_sync_s=args.hpa_sync,
        settle_s=args.settle_seconds,
    )
    opts.out.mkdir(parents=True, exist_ok=True)
    spec = load_spec(SPEC)
    trace = parse_trace(
        opts.trace,
        duration=opts.duration_s,
        seed=opts.seed,
        max_model_len=spec.engine.max_model_len or 8192,
    )
    if args.reuse:
        profile = load_profile(args.profile or opts.out / "profile.yaml")
        reports = [json.loads(p.read_text()) for p in sorted(opts.out.glob("cluster-*.json"))]
        if not reports:
            raise SystemExit(f"--reuse: no cluster-*.json in {opts.out}")
    else:
        profile = load_profile(args.profile) if args.profile else calibrated_profile(spec, opts.out)
        reports = [run_cluster(str(i + 1), opts) for i in range(args.runs)]
    clusters, sims, comparison = compare(spec, profile, trace, reports, opts)
    (opts.out / "comparison.json").write_text(json.dumps(comparison, indent=1) + "\n")
    plot_path = args.plot or opts.out / "capacity-cluster.png"
    target = float(spec.autoscaling.target_waiting_per_pod)
    plot(trace, clusters[0], sims[0], plot_path, target, others=clusters[1:])
    print(f"\nplot: {plot_path}; comparison: {opts.out / 'comparison.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
