"""The real `openai` client against live servers of both GPU-free engines."""

from __future__ import annotations

import openai
import pytest

from vllm_deploy.harness import ServerProcess


def _client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)


def _model(client: openai.OpenAI) -> str:
    return client.models.list().data[0].id


def test_models_lists_the_served_model(any_server: ServerProcess) -> None:
    models = _client(any_server).models.list().data
    assert len(models) == 1
    assert models[0].owned_by == "vllm"
    assert models[0].model_extra is not None and models[0].model_extra["max_model_len"] >= 256


def test_chat_completion(any_server: ServerProcess) -> None:
    client = _client(any_server)
    reply = client.chat.completions.create(
        model=_model(client),
        messages=[{"role": "user", "content": "Say hello"}],
        max_tokens=8,
        seed=7,
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 2
    assert 1 <= reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    if choice.finish_reason == "length":
        assert reply.usage.completion_tokens == 8


def test_streamed_chat_completion_matches_unstreamed(any_server: ServerProcess) -> None:
    client = _client(any_server)
    kwargs = {
        "model": _model(client),
        "messages": [{"role": "user", "content": "Count"}],
        "max_tokens": 12,
        "seed": 3,
        "temperature": 0.8,
    }
    whole = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    stream = client.chat.completions.create(
        **kwargs, stream=True, stream_options={"include_usage": True}
    )  # type: ignore[call-overload]
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert text == whole.choices[0].message.content
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_completion_and_streamed_completion(any_server: ServerProcess) -> None:
    client = _client(any_server)
    model = _model(client)
    whole = client.completions.create(model=model, prompt="Once upon a time", max_tokens=6, seed=11)
    assert whole.object == "text_completion"
    assert whole.usage is not None and whole.usage.prompt_tokens >= 3
    streamed = list(
        client.completions.create(
            model=model, prompt="Once upon a time", max_tokens=6, seed=11, stream=True
        )
    )
    text = "".join(c.choices[0].text for c in streamed)
    assert text == whole.choices[0].text
    assert streamed[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_same_seed_same_text_and_max_tokens_is_exact_for_the_simulator(
    simulated_server: ServerProcess,
) -> None:
    client = _client(simulated_server)
    model = _model(client)
    texts = {
        client.completions.create(model=model, prompt="x", max_tokens=20, seed=5).choices[0].text
        for _ in range(3)
    }
    assert len(texts) == 1
    reply = client.completions.create(model=model, prompt="x", max_tokens=20, seed=6)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 20
    assert len(reply.choices[0].text.split()) == 20  # one word per token: honest counts


def test_stop_string_truncates_output(simulated_server: ServerProcess) -> None:
    client = _client(simulated_server)
    model = _model(client)
    full = client.completions.create(model=model, prompt="x", max_tokens=30, seed=9).choices[0].text
    words = full.split()
    stop = " " + words[10]
    cut = full.index(stop)
    reply = client.completions.create(model=model, prompt="x", max_tokens=30, seed=9, stop=[stop])
    assert reply.choices[0].text == full[:cut]
    assert reply.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model=model, prompt="x", max_tokens=30, seed=9, stop=stop, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == full[:cut]


def test_greedy_reference_is_deterministic_without_seed(reference_server: ServerProcess) -> None:
    client = _client(reference_server)
    model = _model(client)
    texts = {
        client.completions.create(model=model, prompt=[5, 6, 7], max_tokens=10, temperature=0)
        .choices[0]
        .text
        for _ in range(2)
    }
    assert len(texts) == 1


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_unknown_model_is_404_through_the_client(
    simulated_server: ServerProcess, endpoint: str
) -> None:
    client = _client(simulated_server)
    with pytest.raises(openai.NotFoundError) as err:
        if endpoint == "chat":
            client.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "x"}]
            )
        else:
            client.completions.create(model="nope", prompt="x")
    assert "nope" in str(err.value)
