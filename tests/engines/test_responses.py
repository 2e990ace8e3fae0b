"""/v1/responses through the openai client's Responses API, on both engines."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.engines.features import EOS, A, client, engine_of, model, post
from vllm_deploy.harness import ServerProcess


def test_a_response_has_text_usage_and_status(any_server: ServerProcess) -> None:
    c = client(any_server)
    out = c.responses.create(
        model=model(any_server),
        input="Say hello",
        max_output_tokens=5,
        extra_body={"ignore_eos": True},
    )
    assert out.status == "incomplete" and out.incomplete_details is not None
    assert out.incomplete_details.reason == "max_output_tokens"
    assert out.usage is not None and out.usage.output_tokens == 5
    chat = post(
        any_server,
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 1},
    )
    assert out.usage.input_tokens == chat["usage"]["prompt_tokens"]  # the same chat template
    assert out.output_text == out.output[0].content[0].text  # type: ignore[union-attr]


def test_a_response_that_ends_by_itself_is_completed(any_server: ServerProcess) -> None:
    eos = EOS[engine_of(any_server)]
    out = post(
        any_server,
        "/v1/responses",
        {"input": "Hi", "max_output_tokens": 5, "logit_bias": {str(eos): 100}},
    )
    assert out["status"] == "completed" and out["incomplete_details"] is None
    assert out["output"][0]["status"] == "completed" and out["usage"]["output_tokens"] == 1


def test_instructions_and_message_items_make_the_prompt(any_server: ServerProcess) -> None:
    items = post(
        any_server,
        "/v1/responses",
        {
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hi"}],
                }
            ],
            "instructions": "Be brief.",
            "max_output_tokens": 1,
        },
    )
    tokens = post(
        any_server,
        "/tokenize",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ]
        },
    )
    assert items["usage"]["input_tokens"] == tokens["count"]
    assert items["instructions"] == "Be brief."


def test_streamed_events_carry_the_text_in_order(any_server: ServerProcess) -> None:
    c = client(any_server)
    events = list(
        c.responses.create(
            model=model(any_server),
            input="Count",
            max_output_tokens=4,
            stream=True,
            extra_body={"ignore_eos": True},
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds.count("response.output_text.delta") == 4 and kinds[-1] == "response.incomplete"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == text  # type: ignore[union-attr]


def test_output_logprobs_when_included(any_server: ServerProcess) -> None:
    out = post(
        any_server,
        "/v1/responses",
        {
            "input": "Hi",
            "max_output_tokens": 3,
            "temperature": 0,
            "top_logprobs": 2,
            "include": ["message.output_text.logprobs"],
            "logit_bias": {str(A): 100},
        },
    )
    logprobs = out["output"][0]["content"][0]["logprobs"]
    assert len(logprobs) == 3 and all(len(lp["top_logprobs"]) == 2 for lp in logprobs)
    assert all(lp["top_logprobs"][0]["token"] == lp["token"] for lp in logprobs)


def test_what_needs_vllms_response_store_is_answered_as_vllm_without_it(
    simulated_server: ServerProcess,
) -> None:
    c = client(simulated_server)
    with pytest.raises(openai.NotFoundError, match="resp_none"):
        c.responses.create(
            model=model(simulated_server), input="x", previous_response_id="resp_none"
        )
    resp = httpx.post(
        f"{simulated_server.url}/v1/responses", json={"input": "x", "background": True}
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "background"
    resp = httpx.post(
        f"{simulated_server.url}/v1/responses",
        json={"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "input"
