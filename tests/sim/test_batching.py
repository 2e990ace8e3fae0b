"""Continuous batching in one pod: admission, prefill, decode clock, KV budget, interference."""

from __future__ import annotations

import pytest

from tests.sim.conftest import toy_profile
from vllm_deploy.sim.batching import ERROR_OVERLOAD, ERROR_TOO_LONG, OK, Batcher, PodEngine


def _run(batcher: Batcher, arrivals: list[float], until: float = 1e9) -> PodEngine:
    pod = PodEngine(0.0)
    for r, t in enumerate(arrivals):
        batcher.process(pod, t)
        batcher.arrive(pod, r, t)
    batcher.process(pod, until)
    return pod


def _batcher(
    prompts: list[int],
    outputs: list[int],
    max_seqs: int = 4,
    kv: int = 100_000,
    inflight: int = 0,
    **step: float,
) -> Batcher:
    return Batcher(toy_profile(**step).step, max_seqs, kv, inflight, prompts, outputs)


def test_one_request_takes_its_prefill_then_one_step_per_token() -> None:
    b = _batcher([100], [11])
    _run(b, [5.0])
    assert b.first[0] == pytest.approx(5.0 + 0.1 + 0.1)
    assert b.done[0] == pytest.approx(5.2 + 10 * 0.01)
    assert b.status[0] == OK


def test_step_time_grows_with_the_batch() -> None:
    b = _batcher([0, 0], [101, 101], decode_per_seq_s=0.01)
    _run(b, [0.0, 0.0])
    # Prefills run one after the other (0.1 s each); two in the batch: 0.03 s per step, one: 0.02.
    assert b.first == pytest.approx([0.1, 0.2])
    ahead = 0.1 / 0.03  # steps request 0 made while request 1 was in prefill
    assert b.done[1] - b.first[1] == pytest.approx((100 - ahead) * 0.03 + ahead * 0.02)


def test_max_num_seqs_queues_the_rest_first_come_first_served() -> None:
    b = _batcher([0] * 3, [11] * 3, max_seqs=2)
    _run(b, [0.0, 0.0, 0.0])
    assert b.first[2] >= min(b.done[0], b.done[1])  # admitted only when a slot frees
    assert b.first[2] == pytest.approx(min(b.done[0], b.done[1]) + 0.1)


def test_the_kv_budget_bounds_the_batch() -> None:
    b = _batcher([500, 500], [100, 100], kv=1000)  # each reserves 600 tokens
    _run(b, [0.0, 0.0])
    assert b.first[1] >= b.done[0]


def test_prefill_interference_pauses_decoding() -> None:
    quiet = _batcher([0, 1000], [101, 2], prefill_interference=0.0)
    _run(quiet, [0.0, 0.5])
    noisy = _batcher([0, 1000], [101, 2], prefill_interference=1.0)
    _run(noisy, [0.0, 0.5])
    # The second request's 1000-token prefill costs the first one 1000 x 1 ms of decoding.
    assert noisy.done[0] - quiet.done[0] == pytest.approx(1.0, rel=0.01)


def test_admission_limit_and_too_long_requests_fail() -> None:
    b = _batcher([0, 0, 0], [50, 50, 50], max_seqs=1, inflight=2)
    _run(b, [0.0, 0.0, 0.0])
    assert (b.status[0], b.status[1], b.status[2]) == (OK, OK, ERROR_OVERLOAD)
    long = _batcher([10**6], [1])
    _run(long, [0.0])
    assert long.status[0] == ERROR_TOO_LONG
