from __future__ import annotations

import torch

from vllm_deploy.engines.base import SamplingParams
from vllm_deploy.engines.reference.sampling import sample_next

LOGITS = torch.tensor([0.1, 3.0, 2.9, -1.0, 0.5])


def _draw(params: SamplingParams, seed: int, n: int = 200) -> list[int]:
    gen = torch.Generator().manual_seed(seed)
    return [sample_next(torch, LOGITS, params, gen) for _ in range(n)]


def test_temperature_zero_is_greedy() -> None:
    assert set(_draw(SamplingParams(max_tokens=1, temperature=0.0), 1, 20)) == {1}


def test_same_seed_same_tokens() -> None:
    params = SamplingParams(max_tokens=1, temperature=1.0)
    assert _draw(params, 42) == _draw(params, 42)
    assert _draw(params, 42) != _draw(params, 43)


def test_top_k_and_top_p_restrict_the_candidates() -> None:
    assert set(_draw(SamplingParams(max_tokens=1, top_k=2), 0)) == {1, 2}
    # Token 1 holds 0.485 of the mass, token 2 0.44: top_p 0.4 keeps one, 0.5 keeps both.
    assert set(_draw(SamplingParams(max_tokens=1, top_p=0.4), 0)) == {1}
    assert set(_draw(SamplingParams(max_tokens=1, top_p=0.5), 0)) == {1, 2}
    assert len(set(_draw(SamplingParams(max_tokens=1, temperature=2.0), 0, 500))) == 5
