"""Both engines answer every request vLLM 0.33.0 was asked (the vendored probes) as vLLM did.

For every field of vLLM's request models there is a ``SUPPORT`` entry and a probe: its
example sent to vLLM's own serving code. Here the same request goes to both engines:
- a field vLLM refuses with default flags: the same status, error type, ``param`` and
  message (on the simulated engine numbers may differ: its vocabulary is another);
- a field not implemented here: 400 naming the field (vLLM would serve it);
- otherwise 200, a body that validates against vLLM's response model, and vLLM's keys in
  the response and in each kind of stream chunk. On the reference engine, which has the
  model's tokenizer and chat template, ``usage.prompt_tokens`` is vLLM's too.
The other probes (values vLLM refuses, response shapes, raw bodies) are held the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engines.vllm_api import (
    MODELS,
    event_kind,
    probes,
    request_fields,
    responses_stream_diff,
    shape_diff,
    stream_diff,
    validate,
)
from vllm_deploy.engines.protocol.support import ENDPOINTS, MODEL, SUPPORT, render_parity_table
from vllm_deploy.harness import ServerProcess

_FIELD_PROBES = [
    (endpoint.request_model, name)
    for endpoint in ENDPOINTS
    for name in SUPPORT[endpoint.request_model]
]
_OTHER_PROBES = sorted(p for p in probes() if not p.startswith("field."))
# Pydantic reports these against vLLM's union members (openai's TypedDicts, named in `loc`),
# which our models do not reproduce: the status, type and field are compared, not the text.
_UNION_ERRORS = {
    "chat.messages.content_type": "body.messages.0",
    "cmpl.prompt.negative_id": "body.prompt",
}


@pytest.fixture(scope="module")
def simulated_tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The simulated engine with the reference server's name and context, as vLLM's probes."""
    log: Path = tmp_path_factory.mktemp("logs") / "parity-simulated.log"
    args = [
        "--engine",
        "simulated",
        "--model",
        "sim",
        "--served-model-name",
        "tiny",
        "--max-model-len",
        "256",
        "--sim-ttft-ms",
        "0",
        "--sim-itl-ms",
        "0",
    ]
    with ServerProcess(args, log_path=log) as server:
        yield server


@pytest.fixture(params=["reference", "simulated"])
def engine(request: pytest.FixtureRequest) -> tuple[str, ServerProcess]:
    name = "reference_server" if request.param == "reference" else "simulated_tiny"
    server: ServerProcess = request.getfixturevalue(name)
    return request.param, server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as c:
        yield c


def _send(client: httpx.Client, server: ServerProcess, probe: dict[str, Any]) -> httpx.Response:
    url = server.url + probe["path"]
    if "raw" in probe:
        return client.post(
            url, content=probe["raw"].encode(), headers={"content-type": probe["content_type"]}
        )
    body = {k: ("tiny" if v == MODEL else v) for k, v in probe["body"].items()}
    return client.post(url, json=body)


def _events(resp: httpx.Response) -> list[Any]:
    lines = [
        line.removeprefix("data: ") for line in resp.text.splitlines() if line.startswith("data: ")
    ]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


def _masked(text: str) -> str:
    return re.sub(r"\d+", "N", text)


def _assert_same_error(engine: str, resp: httpx.Response, probe: dict[str, Any]) -> None:
    ours, theirs = resp.json().get("error"), probe["json"]["error"]
    assert resp.status_code == probe["status"], resp.text
    assert ours is not None, resp.text
    assert ours["type"] == theirs["type"] and ours["code"] == theirs["code"], (ours, theirs)
    if probe["id"] in _UNION_ERRORS:
        assert ours["param"].startswith(_UNION_ERRORS[probe["id"]]), (ours, theirs)
        return
    assert ours["param"] == theirs["param"], (ours, theirs)
    if engine == "reference":
        assert ours["message"] == theirs["message"]
    else:
        assert _masked(ours["message"]) == _masked(theirs["message"])


def _assert_same_answer(engine: str, resp: httpx.Response, probe: dict[str, Any]) -> None:
    assert resp.status_code == 200, resp.text
    response_model, chunk_model = MODELS[probe["path"]]
    if "events" in probe and probe["path"] == "/v1/responses":
        events = _events(resp)
        for event in events:
            validate(f"ResponsesStreamEvent:{event['type']}", event)
        assert responses_stream_diff(events, probe["events"]) == []
        return
    if "events" in probe:
        events = _events(resp)
        errors = [e for e in probe["events"] if e != "[DONE]" and event_kind(e) == "error"]
        if errors:  # vLLM's engine refused the request after the stream began
            assert events[-1] == "[DONE]" and len(events) == 2, events
            ours, theirs = events[0]["error"], errors[0]["error"]
            masked = _masked if engine == "simulated" else str
            assert {**ours, "message": masked(ours["message"])} == {
                **theirs,
                "message": masked(theirs["message"]),
            }
            return
        for event in events:
            if event != "[DONE]":
                assert event_kind(event) != "error", event
                assert chunk_model is not None
                validate(chunk_model, event)
        assert stream_diff(events, probe["events"]) == []
        return
    body = resp.json()
    validate(response_model, body)
    assert shape_diff(body, probe["json"]) == []
    if engine == "reference" and "usage" in body:
        key = "input_tokens" if probe["path"] == "/v1/responses" else "prompt_tokens"
        assert body["usage"][key] == probe["json"]["usage"][key]
    if "count" in body and engine == "reference":
        assert body["tokens"] == probe["json"]["tokens"]


def test_the_docs_parity_table_is_rendered_from_the_same_sources() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "engines.md").read_text()
    table = doc.split("<!-- parity-table:start -->\n", 1)[1].split("<!-- parity-table:end -->")[0]
    fields = {e.request_model: request_fields(e.request_model) for e in ENDPOINTS}
    assert table.strip() == render_parity_table(fields).strip(), (
        "docs/engines.md is out of date: run `python scripts/render_parity_table.py`"
    )


def test_every_field_of_vllms_request_models_is_handled() -> None:
    for endpoint in ENDPOINTS:
        declared = [f["name"] for f in request_fields(endpoint.request_model)]
        assert sorted(SUPPORT[endpoint.request_model]) == sorted(declared), endpoint.request_model


@pytest.mark.parametrize(
    ("model", "field"), _FIELD_PROBES, ids=[f"{m}.{f}" for m, f in _FIELD_PROBES]
)
def test_each_field_is_answered_as_vllm_answers_it(
    engine: tuple[str, ServerProcess], client: httpx.Client, model: str, field: str
) -> None:
    name, server = engine
    probe = probes().get(f"field.{model}.{field}")
    assert probe is not None, "no vLLM answer: rerun scripts/vendor_vllm_openai_api.py"
    support = SUPPORT[model][field]
    resp = _send(client, server, probe)
    if support.handling == "not-implemented":
        error = resp.json()["error"]
        assert resp.status_code == 400 and error["type"] == "BadRequestError", resp.text
        assert error["param"] == field and field in error["message"]
    elif support.handling == "refused-as-vllm":
        _assert_same_error(name, resp, probe)
    else:
        _assert_same_answer(name, resp, probe)


@pytest.mark.parametrize("probe_id", _OTHER_PROBES)
def test_other_requests_are_answered_as_vllm_answers_them(
    engine: tuple[str, ServerProcess], client: httpx.Client, probe_id: str
) -> None:
    name, server = engine
    probe = probes()[probe_id]
    resp = _send(client, server, probe)
    if probe["status"] != 200:
        _assert_same_error(name, resp, probe)
    else:
        _assert_same_answer(name, resp, probe)
