"""Log-probabilities: the model's own on the reference engine, well-formed on the simulated one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.engines.features import client, model, post
from vllm_deploy.harness import ServerProcess

PROMPT = [5, 6, 7, 8]


@pytest.fixture(scope="module")
def model_logprobs(tiny_model: Path) -> torch.Tensor:
    """log-softmax of the tiny model's logits at every prompt position, computed here."""
    lm = AutoModelForCausalLM.from_pretrained(tiny_model, local_files_only=True).eval()
    with torch.inference_mode():
        logits = lm(input_ids=torch.tensor([PROMPT])).logits[0].float()
    return torch.log_softmax(logits, dim=-1)


def test_reference_logprobs_are_the_models(
    reference_server: ServerProcess, model_logprobs: torch.Tensor
) -> None:
    # Token ids as `token_id:N`: decoded byte fragments may share a string (and a dict key).
    out = client(reference_server).completions.create(
        model=model(reference_server),
        prompt=PROMPT,
        max_tokens=1,
        temperature=0,
        logprobs=5,
        extra_body={"return_tokens_as_token_ids": True},
    )
    logprobs = out.choices[0].logprobs
    assert logprobs is not None and logprobs.top_logprobs and logprobs.token_logprobs
    values, ids = torch.topk(model_logprobs[-1], 5)
    assert logprobs.token_logprobs[0] == pytest.approx(values[0].item(), abs=1e-4)  # greedy
    expected = {f"token_id:{t}": v for t, v in zip(ids.tolist(), values.tolist(), strict=True)}
    assert logprobs.top_logprobs[0] == pytest.approx(expected, abs=1e-4)


def test_reference_prompt_logprobs_are_the_models(
    reference_server: ServerProcess, model_logprobs: torch.Tensor
) -> None:
    out = post(
        reference_server,
        "/v1/completions",
        {"prompt": PROMPT, "max_tokens": 1, "prompt_logprobs": 0},
    )
    positions = out["choices"][0]["prompt_logprobs"]
    assert positions[0] is None and len(positions) == len(PROMPT)
    for pos, entry in enumerate(positions[1:], start=1):
        token = PROMPT[pos]
        expected = model_logprobs[pos - 1]
        assert entry[str(token)]["logprob"] == pytest.approx(expected[token].item(), abs=1e-4)
        assert entry[str(token)]["rank"] == int((expected > expected[token]).sum()) + 1


def _chat_logprobs(server: ServerProcess, seed: int | None) -> list[list[tuple[str, float]]]:
    out = client(server).chat.completions.create(
        model=model(server),
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=5,
        logprobs=True,
        top_logprobs=3,
        seed=seed,
    )
    content = out.choices[0].logprobs
    assert content is not None and content.content is not None
    steps = []
    for entry in content.content:
        assert entry.bytes == list(entry.token.encode())
        tops = [(t.token, t.logprob) for t in entry.top_logprobs]
        assert len(tops) == 3 and tops[0] == (entry.token, entry.logprob)  # sampled first
        assert all(v <= 0 for _, v in tops)
        steps.append(tops)
    return steps


def test_logprobs_are_well_formed_and_repeat_with_the_seed(any_server: ServerProcess) -> None:
    first = _chat_logprobs(any_server, seed=21)
    assert _chat_logprobs(any_server, seed=21) == first


def test_greedy_tokens_are_the_most_likely(any_server: ServerProcess) -> None:
    out = post(
        any_server,
        "/v1/completions",
        {
            "prompt": "Hi",
            "max_tokens": 4,
            "temperature": 0,
            "logprobs": 2,
            "return_tokens_as_token_ids": True,
        },
    )
    lp = out["choices"][0]["logprobs"]
    for token_logprob, tops in zip(lp["token_logprobs"], lp["top_logprobs"], strict=True):
        assert token_logprob == pytest.approx(max(tops.values()))
        assert math.fsum(math.exp(v) for v in tops.values()) <= 1.0 + 1e-6
    assert lp["text_offset"] == [sum(len(t) for t in lp["tokens"][:i]) for i in range(4)]


def test_return_tokens_as_token_ids_and_logprob_token_ids(any_server: ServerProcess) -> None:
    out = post(
        any_server,
        "/v1/completions",
        {
            "prompt": "Hi",
            "max_tokens": 2,
            "logprobs": 2,
            "logprob_token_ids": [40, 41],
            "return_tokens_as_token_ids": True,
            "return_token_ids": True,
        },
    )
    choice = out["choices"][0]
    lp = choice["logprobs"]
    assert lp["tokens"] == [f"token_id:{t}" for t in choice["token_ids"]]
    for token, tops in zip(choice["token_ids"], lp["top_logprobs"], strict=True):
        assert set(tops) == {f"token_id:{t}" for t in (token, 40, 41)}
