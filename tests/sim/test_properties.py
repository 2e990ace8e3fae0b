"""Invariants over random traces and settings (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from vllm_deploy.sim.batching import OK
from vllm_deploy.sim.lifecycle import INF
from vllm_deploy.sim.policies import policy_for_spec
from vllm_deploy.sim.profile import load_profile
from vllm_deploy.sim.setup import setup_from_spec
from vllm_deploy.sim.simulator import simulate
from vllm_deploy.sim.trace import parse_trace
from vllm_deploy.spec import spec_from_mapping

PROFILE = load_profile("llama-3.1-8b-h100")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    rate=st.floats(1, 60),
    factor=st.floats(1, 6),
    low=st.integers(1, 3),
    extra=st.integers(0, 4),
    target=st.sampled_from([0.5, 2.0, 8.0]),
    gpus=st.integers(2, 8),
    max_num_seqs=st.sampled_from([4, 16, 64]),
    seed=st.integers(0, 1000),
)
def test_invariants(
    rate: float,
    factor: float,
    low: int,
    extra: int,
    target: float,
    gpus: int,
    max_num_seqs: int,
    seed: int,
) -> None:
    spec = spec_from_mapping(
        {
            "name": "p",
            "model": {"name": "p", "huggingface": "org/p"},
            "engine": {"max_num_seqs": max_num_seqs},
            "autoscaling": {
                "min_replicas": low,
                "max_replicas": low + extra,
                "target_waiting_per_pod": target,
                "scale_down_stabilisation_s": 60,
            },
        }
    )
    setup = setup_from_spec(spec, PROFILE, gpus=gpus)
    trace = parse_trace(
        f"burst:rate={rate},factor={factor},at=120,for=240", duration=600, seed=seed
    )
    run = simulate(setup, trace, policy_for_spec(spec), seed=seed)
    pods = run.pods
    for r, arrival in enumerate(trace.arrivals):
        if run.status[r] == OK:
            pod = pods[run.pod_of[r]]
            # Routed only while the pod was an endpoint: after it became ready, before it left.
            assert pod.ready_at <= pod.lb_in <= arrival <= pod.lb_out
            assert arrival <= run.first_token[r] <= run.done[r]
    assert all(low <= p.desired <= low + extra for p in run.timeline)
    assert all(p.ready <= gpus for p in run.timeline)
    busy_gpu_s = sum(p.busy_total for p in pods) * run.gpus_per_pod
    assert run.gpu_hours * 3600 >= busy_gpu_s - 1e-6
    assert all(p.scheduled == INF or p.exit_at >= p.scheduled for p in pods)
