"""Whole runs: determinism, scaling out and in, Pending pods, drain, the baselines."""

from __future__ import annotations

from dataclasses import replace

from vllm_deploy.sim.batching import ERROR_KILLED, OK
from vllm_deploy.sim.commands import run_simulation
from vllm_deploy.sim.oracle import oracle_policy, peak_policy, pod_capacity
from vllm_deploy.sim.policies import FixedPolicy, HpaPolicy, policy_for_spec, seed_hpa
from vllm_deploy.sim.report import summarize
from vllm_deploy.sim.setup import SimSetup, setup_from_spec
from vllm_deploy.sim.simulator import simulate
from vllm_deploy.sim.trace import parse_trace
from vllm_deploy.spec import DeploymentSpec

BURST = "burst:rate=18,factor=5,at=300,for=600"


def test_a_seed_gives_the_same_run_event_for_event(
    prod_spec: DeploymentSpec, ephemeral_setup: SimSetup
) -> None:
    trace = parse_trace(BURST, duration=1200, seed=4)
    setup = ephemeral_setup  # downloads vary by seed; load times alone round to probe ticks
    a, b = (simulate(setup, trace, policy_for_spec(prod_spec), seed=4) for _ in range(2))
    assert a.first_token == b.first_token and a.done == b.done and a.timeline == b.timeline
    c = simulate(setup, trace, policy_for_spec(prod_spec), seed=5)  # other start times
    assert c.first_token != a.first_token


def test_the_hpa_scales_out_on_the_burst_and_back_to_min(
    prod_spec: DeploymentSpec, prod_setup: SimSetup
) -> None:
    trace = parse_trace(BURST, duration=2400, seed=1)
    run = simulate(prod_setup, trace, policy_for_spec(prod_spec), seed=1)
    desired = [p.desired for p in run.timeline]
    assert max(desired) > 2 and desired[-1] == 2
    assert all(2 <= d <= 10 for d in desired)
    first_up = next(p.t for p in run.timeline if p.desired > 2)
    assert 300 <= first_up <= 300 + 3 * 15  # one scrape and one or two syncs after the step
    report = summarize(run, prod_spec.slo)
    assert report.scale_events >= 2 and report.gpu_hours > 2 * 2400 / 3600


def test_pods_stay_pending_when_the_gpus_run_out(prod_spec: DeploymentSpec, h100: object) -> None:
    setup = setup_from_spec(prod_spec, h100, gpus=3)  # type: ignore[arg-type]
    run = simulate(
        setup, parse_trace(BURST, duration=1200, seed=1), policy_for_spec(prod_spec), seed=1
    )
    assert max(p.pending for p in run.timeline) > 0
    assert max(p.ready for p in run.timeline) <= 3


def test_scale_in_drains_without_failing_requests(
    prod_spec: DeploymentSpec, prod_setup: SimSetup
) -> None:
    run = simulate(
        prod_setup, parse_trace(BURST, duration=2400, seed=2), policy_for_spec(prod_spec), seed=2
    )
    drained = [p for p in run.pods if p.deleted_at < float("inf") and p.ready_at < float("inf")]
    assert drained and all(p.exit_at >= p.lb_out for p in drained)
    assert ERROR_KILLED not in run.status


def test_a_fixed_fleet_sized_for_the_peak_meets_the_slo(
    prod_spec: DeploymentSpec, ephemeral_setup: SimSetup
) -> None:
    prod_setup = ephemeral_setup  # a cold start with a download: the oracle asks well ahead
    trace = parse_trace(BURST, duration=1200, seed=3)
    capacity = pod_capacity(prod_setup, trace, seed=3, duration=300)
    assert 10 < capacity < 60  # req/s of one H100 pod at max_num_seqs 64, 256+256 tokens
    peak = peak_policy(prod_setup, trace, capacity)
    assert peak.replicas == 3
    report = summarize(simulate(prod_setup, trace, peak, seed=3), prod_spec.slo)
    assert report.meets_slo and report.slo_attainment >= 0.99
    oracle = oracle_policy(prod_setup, trace, capacity)
    assert oracle.replicas[0] == 2 and max(oracle.replicas) == 3
    # It asks for the third pod a cold start before the step at 300 s.
    assert oracle.times[oracle.replicas.index(3)] < 300 - 100
    assert (
        summarize(simulate(prod_setup, trace, oracle, seed=3), prod_spec.slo).gpu_hours
        < report.gpu_hours
    )


def test_compare_runs_every_policy_on_the_same_trace(
    prod_spec: DeploymentSpec, prod_setup: SimSetup
) -> None:
    trace = parse_trace(BURST, duration=900, seed=1)
    outcome = run_simulation(prod_spec, prod_setup, trace, seed=1, compare=True)
    assert [r.name for r in outcome.reports] == ["spec", "seed", "oracle", "peak-fixed"]
    assert {r.requests for r in outcome.reports} == {len(trace)}
    seed_policy = HpaPolicy("seed", seed_hpa(prod_spec))
    assert [m.key for m in seed_policy.hpa.spec.metrics] == ["cpu", "vllm_num_requests_waiting"]


def test_every_request_is_served_by_a_warm_fleet(prod_setup: SimSetup) -> None:
    trace = parse_trace("poisson:rate=20", duration=300, seed=1)
    run = simulate(prod_setup, trace, FixedPolicy("fixed", 2), seed=1)
    assert all(s == OK for s in run.status)
    assert all(f >= a for f, a in zip(run.first_token, trace.arrivals, strict=True))


def test_the_hpa_syncs_from_its_own_first_sync(
    prod_spec: DeploymentSpec, prod_setup: SimSetup
) -> None:
    setup = replace(prod_setup, cluster=replace(prod_setup.cluster, first_sync_s=7.0))
    run = simulate(
        setup, parse_trace(BURST, duration=600, seed=1), policy_for_spec(prod_spec), seed=1
    )
    assert [p.t for p in run.timeline[:3]] == [7.0, 22.0, 37.0]
