"""vLLM's sampling steps: the torch sampler (reference) and the plain one (simulated) agree."""

from __future__ import annotations

import math
import random

import pytest
import torch

from vllm_deploy.engines import sampler
from vllm_deploy.engines.base import SamplingParams
from vllm_deploy.engines.reference.sampling import Sampler

LOGITS = [0.1, 3.0, 2.9, -1.0, 0.5, 1.5]
PROMPT = [4]


def _draw(
    params: SamplingParams, seed: int, n: int = 200, output: list[int] | None = None
) -> list[int]:
    s = Sampler(torch, params, PROMPT, seed)
    return [s.step(torch.tensor(LOGITS), output or [])[0] for _ in range(n)]


def _params(**kwargs: object) -> SamplingParams:
    return SamplingParams(max_tokens=1, **kwargs)  # type: ignore[arg-type]


def test_temperature_zero_is_greedy() -> None:
    assert set(_draw(_params(temperature=0.0), 1, 20)) == {1}


def test_same_seed_same_tokens() -> None:
    assert _draw(_params(), 42) == _draw(_params(), 42)
    assert _draw(_params(), 42) != _draw(_params(), 43)


def test_top_k_top_p_and_min_p_restrict_the_candidates() -> None:
    assert set(_draw(_params(top_k=2), 0)) == {1, 2}
    # Token 1 holds 0.40 of the mass, token 2 0.36: top_p 0.3 keeps one, 0.5 keeps both.
    assert set(_draw(_params(top_p=0.3), 0)) == {1}
    assert set(_draw(_params(top_p=0.5), 0)) == {1, 2}
    assert set(_draw(_params(min_p=0.5), 0)) == {1, 2}  # 1.5 is e^-1.5 = 0.22 of the top
    assert len(set(_draw(_params(temperature=2.0), 0, 500))) == 6


def test_allowed_ids_bad_words_and_min_tokens_mask_tokens() -> None:
    assert set(_draw(_params(allowed_token_ids=frozenset({3, 4})), 0)) == {3, 4}
    greedy = _params(temperature=0.0, bad_words=((2, 1), (5,)))
    assert _draw(greedy, 0, 1, output=[0]) == [1]  # (2, 1) bans 1 only after a 2
    assert _draw(greedy, 0, 1, output=[2]) == [2]
    masked = _params(temperature=0.0, min_tokens=2, min_tokens_mask=frozenset({1}))
    assert _draw(masked, 0, 1, output=[0]) == [2]
    assert _draw(masked, 0, 1, output=[0, 0]) == [1]


def test_logit_bias_and_penalties_follow_vllms_formulas() -> None:
    params = _params(
        logit_bias={0: 10.0}, repetition_penalty=2.0, frequency_penalty=0.5, presence_penalty=0.25
    )
    out = Sampler(torch, params, PROMPT, 0).process(torch.tensor(LOGITS), [1, 1, 5])
    expected = list(LOGITS)
    expected[0] += 10.0
    for t in {4, 1, 5}:  # prompt and output: positive logits divided, negative multiplied
        expected[t] = expected[t] / 2 if expected[t] > 0 else expected[t] * 2
    expected[1] -= 0.5 * 2 + 0.25
    expected[5] -= 0.5 * 1 + 0.25
    assert out.tolist() == pytest.approx(expected)


def test_logprobs_are_raw_log_softmax_sampled_token_first() -> None:
    params = _params(temperature=0.0, logprobs=2, logit_bias={0: 100.0})
    token, logprobs = Sampler(torch, params, PROMPT, 0).step(torch.tensor(LOGITS), [])
    assert token == 0  # the bias decides the token, not the reported logprobs
    assert logprobs is not None
    raw = torch.log_softmax(torch.tensor(LOGITS), dim=-1).tolist()
    assert list(logprobs) == [0, 1, 2]
    assert [logprobs[t] for t in (0, 1, 2)] == pytest.approx([raw[0], raw[1], raw[2]])


@pytest.mark.parametrize(
    "params",
    [
        _params(),
        _params(temperature=0.7, top_k=4),
        _params(top_p=0.8),
        _params(min_p=0.2),
        _params(temperature=1.3, top_k=3, top_p=0.9, min_p=0.1),
        _params(
            repetition_penalty=1.5,
            frequency_penalty=0.3,
            presence_penalty=0.2,
            logit_bias={3: 2.0},
            allowed_token_ids=frozenset({0, 1, 3, 5}),
        ),
    ],
)
def test_the_plain_sampler_gives_the_torch_samplers_distribution(params: SamplingParams) -> None:
    output = [1, 5, 1]
    torch_sampler = Sampler(torch, params, PROMPT, 0)
    theirs = torch_sampler.distribution(torch_sampler.process(torch.tensor(LOGITS), output))
    logits = sampler.process(dict(enumerate(LOGITS)), params, PROMPT, output)
    ours = dict(sampler.distribution(logits, params))
    assert [ours.get(t, 0.0) for t in range(len(LOGITS))] == pytest.approx(theirs.tolist())


def test_the_plain_sampler_draws_from_its_distribution() -> None:
    params = _params(temperature=0.8, top_k=3)
    logits = dict(enumerate(LOGITS))
    rng = random.Random(5)
    draws = [sampler.sample(logits, params, rng) for _ in range(4000)]
    for token, p in sampler.distribution(logits, params):
        assert draws.count(token) / len(draws) == pytest.approx(p, abs=0.03)
    assert sampler.sample(logits, _params(temperature=0.0), rng) == 1
    top = sampler.top_logprobs(sampler.raw_logprobs(logits), 3, 2, None)
    assert list(top) == [3, 1, 2]
    assert math.fsum(math.exp(v) for v in sampler.raw_logprobs(logits).values()) == pytest.approx(1)
