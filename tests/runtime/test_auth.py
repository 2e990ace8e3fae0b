"""API keys guard every path but the probes and /metrics; keys never reach a log line."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from vllm_deploy.harness import ServerProcess

KEYS = ["sk-alpha-0123456789", "sk-beta-9876543210"]
FILE_KEY = "sk-from-file-55555"
OPEN = [("GET", "/health"), ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics")]
GUARDED = [("GET", "/v1/models"), ("POST", "/v1/completions"), ("POST", "/v1/chat/completions"),
           ("POST", "/tokenize"), ("GET", "/version"), ("GET", "/no/such/path"),
           ("GET", "/admin/sim/faults"), ("GET", "/docs")]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("auth")
    key_file = tmp / "keys"
    key_file.write_text(f"# mounted from a Secret\n{FILE_KEY}\n")
    env = {"VLLMDEPLOY_API_KEY": ",".join(KEYS), "VLLMDEPLOY_API_KEY_FILE": str(key_file)}
    with ServerProcess(
        ["--engine", "simulated", "--model", "m"], log_path=tmp / "server.log", env=env
    ) as s:
        yield s


def _call(server: ServerProcess, method: str, path: str, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"prompt": "x", "max_tokens": 2} if path.endswith("completions") else None
    if path.endswith("chat/completions"):
        body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    return httpx.request(method, f"{server.url}{path}", headers=headers, json=body, timeout=10)


@pytest.mark.parametrize(("method", "path"), OPEN)
def test_probes_and_metrics_need_no_key(server: ServerProcess, method: str, path: str) -> None:
    assert _call(server, method, path, None).status_code == 200


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_everything_else_needs_a_valid_key(server: ServerProcess, method: str, path: str) -> None:
    for key in (None, "sk-wrong", KEYS[0][:-1]):
        resp = _call(server, method, path, key)
        assert resp.status_code == 401, (path, key)
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.json()["error"]["type"] == "AuthenticationError"
    for key in (*KEYS, FILE_KEY):
        assert _call(server, method, path, key).status_code != 401, (path, key)


def test_the_openai_client_with_and_without_key(server: ServerProcess) -> None:
    good = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEYS[1], max_retries=0)
    reply = good.completions.create(
        model="m", prompt="x", max_tokens=2, extra_body={"ignore_eos": True}
    )
    assert reply.model == "m" and reply.usage is not None and reply.usage.completion_tokens == 2
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_no_key_appears_in_logs_or_metrics(server: ServerProcess) -> None:
    for key in (*KEYS, FILE_KEY, "sk-wrong-attempt-777"):
        _call(server, "POST", "/v1/completions", key)
    metrics = httpx.get(f"{server.url}/metrics").text
    log = server.log()
    assert "vllm_deploy_rejections_total" in metrics and log
    for secret in (*KEYS, FILE_KEY, "sk-wrong-attempt-777", "sk-"):
        assert secret not in log
        assert secret not in metrics
