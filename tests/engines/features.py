"""Helpers for the per-feature tests: clients and each engine's special token ids."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai

from vllm_deploy.harness import ServerProcess

# Each engine's EOS, and two ordinary tokens both vocabularies have.
EOS = {"reference": 3, "simulated": 68}
A, B = 40, 41


def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)


def model(server: ServerProcess) -> str:
    name: str = httpx.get(f"{server.url}/v1/models").json()["data"][0]["id"]
    return name


def engine_of(server: ServerProcess) -> str:
    engine: str = httpx.get(f"{server.url}/version").json()["engine"]
    return engine


def post(server: ServerProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(f"{server.url}{path}", json={"model": model(server), **body}, timeout=60)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def stream(server: ServerProcess, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON events of a streamed answer (``[DONE]`` checked and dropped)."""
    payload = {"model": model(server), **body, "stream": True}
    resp = httpx.post(f"{server.url}{path}", json=payload, timeout=60)
    assert resp.status_code == 200, resp.text
    lines = [
        line.removeprefix("data: ") for line in resp.text.splitlines() if line.startswith("data: ")
    ]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]
