"""Every kind of bad input gets the documented status and names the field; nothing breaks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SIM_ARGS
from vllm_deploy.harness import ServerProcess

_MSG = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    body: bytes | dict[str, object]
    status: int
    field: str | None  # must appear in error.param and in error.message


# Expected answers are vLLM 0.33.0's (the parity probes hold their exact messages); `field`
# is what `param` names: vLLM locates schema errors in the body (`body.max_tokens`).
CASES = [
    Case("malformed JSON", "/v1/chat/completions", b'{"model": "m", "messages": [', 400, "body.28"),
    Case("body not an object", "/v1/completions", b"[1, 2]", 400, "body"),
    Case(
        "wrong type",
        "/v1/completions",
        {"model": "m", "prompt": "x", "max_tokens": "ten"},
        400,
        "body.max_tokens",
    ),
    Case(
        "wrong type nested",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": 5}]},
        400,
        "body.messages.0.content",
    ),
    Case(
        "negative max_tokens",
        "/v1/completions",
        {"model": "m", "prompt": "x", "max_tokens": -1},
        400,
        "max_tokens",
    ),
    Case(
        "huge max_tokens",
        "/v1/chat/completions",
        {"model": "m", "messages": _MSG, "max_tokens": 10**12},
        400,
        "max_tokens",
    ),
    Case(
        "temperature out of range",
        "/v1/completions",
        {"model": "m", "prompt": "x", "temperature": 9},
        400,
        "temperature",
    ),
    Case(
        "unknown model", "/v1/chat/completions", {"model": "gpt-99", "messages": _MSG}, 404, "model"
    ),
    Case("missing messages", "/v1/chat/completions", {"model": "m"}, 400, "body.messages"),
    Case("empty prompt", "/v1/completions", {"model": "m", "prompt": ""}, 400, "prompt"),
    Case(
        "prompt over max-model-len",
        "/v1/completions",
        {"model": "m", "prompt": "word " * 600},
        400,
        "input_tokens",
    ),
    Case(
        "chat over max-model-len",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "w " * 600}]},
        400,
        "input_tokens",
    ),
    Case(
        "token id out of vocabulary",
        "/v1/completions",
        {"model": "m", "prompt": [1, 10**9]},
        400,
        None,
    ),
    Case(
        "logprobs over --max-logprobs",
        "/v1/chat/completions",
        {"model": "m", "messages": _MSG, "logprobs": True, "top_logprobs": 21},
        400,
        "logprobs",
    ),
    Case("n of zero", "/v1/completions", {"model": "m", "prompt": "x", "n": 0}, 400, None),
    Case(
        "stream_options without stream",
        "/v1/completions",
        {"model": "m", "prompt": "x", "stream_options": {"include_usage": True}},
        400,
        "stream_options",
    ),
    Case("wrong content type", "/v1/completions", b"prompt=x", 400, None),
    Case(
        "structured output (not implemented here)",
        "/v1/completions",
        {"model": "m", "prompt": "x", "response_format": {"type": "json_object"}},
        400,
        "response_format",
    ),
    Case("oversize body", "/v1/completions", {"model": "m", "prompt": "x" * 70_000}, 413, None),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log: Path = tmp_path_factory.mktemp("logs") / "bad-input.log"
    args = [*SIM_ARGS, "--served-model-name", "m", "--max-request-body-bytes", "65536"]
    with ServerProcess(args, log_path=log) as proc:
        yield proc


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_clearly(server: ServerProcess, case: Case) -> None:
    content_type = "text/plain" if case.name == "wrong content type" else "application/json"
    kwargs: dict[str, object] = (
        {"content": case.body, "headers": {"content-type": content_type}}
        if isinstance(case.body, bytes)
        else {"json": case.body}
    )
    resp = httpx.post(f"{server.url}{case.path}", timeout=10, **kwargs)  # type: ignore[arg-type]
    assert resp.status_code == case.status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == case.status
    assert error["message"]
    if case.field is not None:
        assert error["param"] == case.field
        assert case.field.removeprefix("body.").split(".")[0] in error["message"]
    # The server keeps serving afterwards.
    ok = httpx.post(
        f"{server.url}/v1/completions", json={"model": "m", "prompt": "x", "max_tokens": 2}
    )
    assert ok.status_code == 200


def test_unknown_path_is_an_openai_shaped_404(server: ServerProcess) -> None:
    resp = httpx.get(f"{server.url}/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "message": "Not Found",
        "type": "Not Found",
        "param": None,
        "code": 404,
    }


def test_max_tokens_beyond_context_is_clamped_as_vllm_does(server: ServerProcess) -> None:
    resp = httpx.post(
        f"{server.url}/v1/completions",
        json={"model": "m", "prompt": "word " * 500, "max_tokens": 100, "ignore_eos": True},
        timeout=30,
    )
    assert resp.status_code == 200
    assert resp.json()["usage"]["completion_tokens"] == 512 - 500


def test_fields_vllm_does_not_declare_are_ignored_as_vllm_ignores_them(
    server: ServerProcess,
) -> None:
    body = {
        "model": "m",
        "prompt": "x",
        "max_tokens": 2,
        "best_of": 3,
        "max_tokenz": 9,
        "store": True,
        "metadata": {"a": "b"},
        "logprobs": None,
        "echo": False,
        "frequency_penalty": 0,
        "presence_penalty": 0.0,
        "logit_bias": {},
    }
    resp = httpx.post(f"{server.url}/v1/completions", json=body)
    assert resp.status_code == 200
    assert resp.json()["usage"]["completion_tokens"] == 2
    assert "ignored, as vLLM 0.33.0 ignores them" in server.log()
