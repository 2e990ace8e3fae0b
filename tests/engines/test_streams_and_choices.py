"""Streams, usage, n choices, batches, echo and content parts, through the openai client and
HTTP."""

from __future__ import annotations

from collections import defaultdict

import httpx

from tests.engines.features import client, model, post, stream
from vllm_deploy.harness import ServerProcess

_CHAT = "/v1/chat/completions"
_MSG = [{"role": "user", "content": "Count to three"}]


def test_content_parts_are_the_text_joined_with_newlines(any_server: ServerProcess) -> None:
    c = client(any_server)
    parts = c.chat.completions.create(
        model=model(any_server),
        max_tokens=4,
        temperature=0,
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}],
            }
        ],
    )
    text = c.chat.completions.create(
        model=model(any_server),
        max_tokens=4,
        temperature=0,
        messages=[{"role": "user", "content": "Hello\nthere"}],
    )
    assert parts.usage is not None and text.usage is not None
    assert parts.usage.prompt_tokens == text.usage.prompt_tokens
    assert parts.choices[0].message.content == text.choices[0].message.content


def test_continuous_usage_stats_put_usage_on_every_chunk(any_server: ServerProcess) -> None:
    chunks = list(
        client(any_server).chat.completions.create(
            model=model(any_server),
            messages=_MSG,
            max_completion_tokens=6,
            stream=True,
            stream_options={"include_usage": True, "continuous_usage_stats": True},  # type: ignore[typeddict-unknown-key]
            extra_body={"ignore_eos": True},
        )
    )
    assert all(c.usage is not None for c in chunks)
    completion = [c.usage.completion_tokens for c in chunks if c.choices and c.usage]
    assert completion == [0, 1, 2, 3, 4, 5, 6]  # the role chunk, then one per token
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
    prompt = {c.usage.prompt_tokens for c in chunks if c.usage}
    assert len(prompt) == 1


def test_include_usage_alone_puts_usage_on_the_last_chunk_only(any_server: ServerProcess) -> None:
    events = stream(
        any_server,
        "/v1/completions",
        {"prompt": "Hi", "max_tokens": 3, "stream_options": {"include_usage": True}},
    )
    assert [("usage" in e) for e in events] == [False] * (len(events) - 1) + [True]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 3


def test_n_choices_stream_with_their_index_and_seed_plus_index(any_server: ServerProcess) -> None:
    body = {"messages": _MSG, "max_tokens": 6, "n": 3, "seed": 11, "ignore_eos": True}
    texts: dict[int, str] = defaultdict(str)
    finishes: dict[int, int] = defaultdict(int)
    for event in stream(any_server, _CHAT, body):
        for choice in event["choices"]:
            texts[choice["index"]] += choice["delta"].get("content") or ""
            finishes[choice["index"]] += choice["finish_reason"] is not None
    assert sorted(texts) == [0, 1, 2] and set(finishes.values()) == {1}
    whole = post(any_server, _CHAT, body)
    assert [c["index"] for c in whole["choices"]] == [0, 1, 2]
    assert [c["message"]["content"] for c in whole["choices"]] == [texts[i] for i in range(3)]
    assert whole["usage"]["completion_tokens"] == 18
    # As vLLM's ParentRequest: choice i samples with seed + i.
    second = post(any_server, _CHAT, {**body, "n": 1, "seed": 12})
    assert second["choices"][0]["message"]["content"] == texts[1]


def test_a_batch_of_prompts_as_text_and_token_ids(any_server: ServerProcess) -> None:
    c = client(any_server)
    batch = c.completions.create(
        model=model(any_server),
        prompt=["Hello", "Good day"],
        n=2,
        max_tokens=2,
        extra_body={"ignore_eos": True},
    )
    assert [choice.index for choice in batch.choices] == [0, 1, 2, 3]
    single = [
        c.completions.create(model=model(any_server), prompt=p, max_tokens=1)
        for p in ("Hello", "Good day")
    ]
    assert batch.usage is not None and batch.usage.completion_tokens == 8
    assert batch.usage.prompt_tokens == sum(s.usage.prompt_tokens for s in single if s.usage)
    ids = c.completions.create(model=model(any_server), prompt=[[5, 6, 7], [8, 9]], max_tokens=1)
    assert ids.usage is not None and ids.usage.prompt_tokens == 5 and len(ids.choices) == 2


def test_echo_prepends_the_prompt(any_server: ServerProcess) -> None:
    out = post(
        any_server,
        "/v1/completions",
        {"prompt": "Hello there", "max_tokens": 2, "echo": True, "logprobs": 1},
    )
    choice = out["choices"][0]
    assert choice["text"].startswith("Hello there")
    prompt_tokens = out["usage"]["prompt_tokens"]
    assert len(choice["logprobs"]["tokens"]) == prompt_tokens + 2
    assert choice["logprobs"]["token_logprobs"][0] is None
    only = post(
        any_server, "/v1/completions", {"prompt": "Hello there", "max_tokens": 0, "echo": True}
    )
    assert only["choices"][0]["text"] == "Hello there"
    # Chat: the last message is echoed when the reply continues it (same role).
    continued = {
        "messages": [*_MSG, {"role": "assistant", "content": "One,"}],
        "echo": True,
        "max_tokens": 2,
        "add_generation_prompt": False,
        "continue_final_message": True,
    }
    chat = post(any_server, _CHAT, continued)
    assert chat["choices"][0]["message"]["content"].startswith("One,")
    events = stream(any_server, _CHAT, continued)
    assert events[1]["choices"][0]["delta"] == {"content": "One,"}


def test_stream_interval_batches_tokens_per_chunk(any_server: ServerProcess) -> None:
    body = {"prompt": "Hi", "max_tokens": 7, "ignore_eos": True, "return_token_ids": True}
    chunks = stream(any_server, "/v1/completions", {**body, "stream_interval": 3})
    assert [len(c["choices"][0]["token_ids"]) for c in chunks] == [1, 3, 3]


def test_the_x_request_id_header_names_the_response(any_server: ServerProcess) -> None:
    # The middleware gives every request an X-Request-Id, which vLLM prefers to the body's
    # request_id (tests/engines/test_simulated.py shows the body's without the middleware).
    resp = httpx.post(
        f"{any_server.url}/v1/completions",
        headers={"X-Request-Id": "hdr-1"},
        json={"prompt": "x", "max_tokens": 1, "request_id": "req-42"},
    )
    assert resp.json()["id"] == "cmpl-hdr-1"


def test_tokenize_and_detokenize_agree_with_generation(any_server: ServerProcess) -> None:
    tokens = post(any_server, "/tokenize", {"prompt": "Hello there", "return_token_strs": True})
    assert tokens["count"] == len(tokens["tokens"]) == len(tokens["token_strs"])
    completion = post(any_server, "/v1/completions", {"prompt": "Hello there", "max_tokens": 1})
    assert completion["usage"]["prompt_tokens"] == tokens["count"]
    chat = post(any_server, "/tokenize", {"messages": _MSG})
    reply = post(any_server, _CHAT, {"messages": _MSG, "max_tokens": 1})
    assert reply["usage"]["prompt_tokens"] == chat["count"]
    out = post(
        any_server,
        "/v1/completions",
        {
            "prompt": "Hi",
            "max_tokens": 4,
            "return_token_ids": True,
            "ignore_eos": True,
            "skip_special_tokens": False,
        },
    )
    text = post(any_server, "/detokenize", {"tokens": out["choices"][0]["token_ids"]})["prompt"]
    assert text == out["choices"][0]["text"]
