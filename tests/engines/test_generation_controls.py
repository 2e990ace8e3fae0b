"""What each sampling and stop field does, on both engines, through the openai client and HTTP.

Large ``logit_bias`` values make the outcome independent of the model (a random tiny model,
or the simulator's word distribution), so each test shows one field's effect exactly.
"""

from __future__ import annotations

import pytest

from tests.engines.features import EOS, A, B, client, engine_of, model, post
from vllm_deploy.harness import ServerProcess

_CMPL = "/v1/completions"


def _ids(server: ServerProcess, **body: object) -> tuple[list[int], str, str | int | None]:
    out = post(server, _CMPL, {"prompt": "Hello", "return_token_ids": True, **body})
    choice = out["choices"][0]
    return choice["token_ids"], choice["finish_reason"], choice["stop_reason"]


def test_eos_ends_a_sequence_and_counts_as_a_token(any_server: ServerProcess) -> None:
    eos = EOS[engine_of(any_server)]
    ids, finish, stop_reason = _ids(any_server, max_tokens=8, logit_bias={str(eos): 100})
    assert (ids, finish, stop_reason) == ([eos], "stop", None)


def test_min_tokens_defers_eos(any_server: ServerProcess) -> None:
    eos = EOS[engine_of(any_server)]
    ids, finish, _ = _ids(any_server, max_tokens=8, min_tokens=4, logit_bias={str(eos): 100})
    assert len(ids) == 5 and ids[-1] == eos and eos not in ids[:4] and finish == "stop"


def test_ignore_eos_runs_to_max_tokens(any_server: ServerProcess) -> None:
    eos = EOS[engine_of(any_server)]
    ids, finish, _ = _ids(any_server, max_tokens=5, ignore_eos=True, logit_bias={str(eos): 100})
    assert (ids, finish) == ([eos] * 5, "length")


def test_stop_token_ids_stop_with_the_id_as_stop_reason(any_server: ServerProcess) -> None:
    out = post(
        any_server,
        _CMPL,
        {"prompt": "Hello", "max_tokens": 6, "stop_token_ids": [A], "logit_bias": {str(A): 100}},
    )
    choice = out["choices"][0]
    assert (choice["finish_reason"], choice["stop_reason"], choice["text"]) == ("stop", A, "")
    assert out["usage"]["completion_tokens"] == 1


def test_skip_special_tokens_false_keeps_special_tokens_in_the_text(
    any_server: ServerProcess,
) -> None:
    eos = EOS[engine_of(any_server)]
    body = {"prompt": "Hello", "max_tokens": 2, "ignore_eos": True, "logit_bias": {str(eos): 100}}
    special = post(any_server, "/detokenize", {"tokens": [eos]})["prompt"]
    assert special
    assert post(any_server, _CMPL, body)["choices"][0]["text"] == ""
    shown = post(any_server, _CMPL, {**body, "skip_special_tokens": False})["choices"][0]["text"]
    assert shown == special * 2


@pytest.mark.parametrize(("penalty", "expected"), [
    # Once both were generated, presence and repetition penalties weigh them alike again...
    ({"presence_penalty": 2.0}, [A, B, A, A]),
    ({"repetition_penalty": 1.5}, [A, B, A, A]),
    # ...while the frequency penalty keeps counting: A (2x) -4, B (1x) -2.
    ({"frequency_penalty": 2.0}, [A, B, A, B]),
])  # fmt: skip
def test_penalties_follow_vllms_definitions(
    any_server: ServerProcess, penalty: dict[str, float], expected: list[int]
) -> None:
    # A leads B by one logit; a penalty on a generated A lets B win.
    base = {
        "max_tokens": 4,
        "temperature": 0,
        "allowed_token_ids": [A, B],
        "logit_bias": {str(A): 50, str(B): 49},
    }
    assert _ids(any_server, **base)[0] == [A, A, A, A]
    assert _ids(any_server, **base, **penalty)[0] == expected


def test_allowed_token_ids_and_bad_words_restrict_the_output(any_server: ServerProcess) -> None:
    ids, _, _ = _ids(any_server, max_tokens=12, allowed_token_ids=[A, B], seed=1)
    assert set(ids) <= {A, B}
    word = post(any_server, "/detokenize", {"tokens": [A]})["prompt"].strip()
    ids, _, _ = _ids(any_server, max_tokens=12, allowed_token_ids=[A, B], bad_words=[word])
    assert ids == [B] * 12


def test_top_k_1_and_min_p_1_sample_the_greedy_token(any_server: ServerProcess) -> None:
    greedy = _ids(any_server, max_tokens=6, temperature=0)[0]
    assert _ids(any_server, max_tokens=6, top_k=1, seed=3)[0] == greedy
    assert _ids(any_server, max_tokens=6, min_p=1.0, seed=4)[0] == greedy


def test_same_seed_same_output_and_seeds_differ(any_server: ServerProcess) -> None:
    first = _ids(any_server, max_tokens=12, seed=7, ignore_eos=True)[0]
    assert _ids(any_server, max_tokens=12, seed=7, ignore_eos=True)[0] == first
    others = {tuple(_ids(any_server, max_tokens=12, seed=s, ignore_eos=True)[0]) for s in (8, 9)}
    assert tuple(first) not in others


def test_repetition_detection_ends_a_repeating_sequence(any_server: ServerProcess) -> None:
    ids, finish, stop_reason = _ids(
        any_server,
        max_tokens=10,
        temperature=0,
        logit_bias={str(A): 100},
        repetition_detection={"max_pattern_size": 1, "min_count": 3},
    )
    assert (ids, finish, stop_reason) == ([A, A, A], "repetition", "repetition_detected")


def test_stop_strings_through_the_openai_client(any_server: ServerProcess) -> None:
    c = client(any_server)
    word = post(any_server, "/detokenize", {"tokens": [B]})["prompt"]
    kwargs = {
        "model": model(any_server),
        "prompt": "Hello",
        "max_tokens": 8,
        "temperature": 0,
        "logit_bias": {str(A): 50, str(B): 49},
        "presence_penalty": 2.0,
    }
    full = c.completions.create(**kwargs).choices[0].text  # type: ignore[arg-type]
    cut = c.completions.create(**kwargs, stop=[word]).choices[0]  # type: ignore[arg-type]
    kept = c.completions.create(
        **kwargs, stop=[word], extra_body={"include_stop_str_in_output": True}
    )  # type: ignore[arg-type]
    assert cut.text == full[: full.index(word)] and cut.finish_reason == "stop"
    assert cut.model_extra is not None and cut.model_extra["stop_reason"] == word
    assert kept.choices[0].text == full[: full.index(word) + len(word)]


def test_truncate_prompt_tokens_keeps_that_many_prompt_tokens(any_server: ServerProcess) -> None:
    out = post(
        any_server,
        _CMPL,
        {
            "prompt": [5, 6, 7, 8, 9],
            "max_tokens": 1,
            "truncate_prompt_tokens": 3,
            "return_token_ids": True,
        },
    )
    assert out["usage"]["prompt_tokens"] == 3
    assert out["choices"][0]["prompt_token_ids"] == [5, 6, 7]  # the tokenizer's side: right
    out = post(
        any_server,
        _CMPL,
        {
            "prompt": [5, 6, 7, 8, 9],
            "max_tokens": 1,
            "return_token_ids": True,
            "truncate_prompt_tokens": 3,
            "truncation_side": "left",
        },
    )
    assert out["choices"][0]["prompt_token_ids"] == [7, 8, 9]
