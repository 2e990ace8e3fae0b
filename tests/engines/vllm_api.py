"""The vendored description of vLLM 0.33.0's API, and comparisons of our answers with vLLM's.

``tests/data/vllm-0.33.0-openai-api.json`` (models and schemas) and ``...-probes.json``
(vLLM's answers) are written by ``scripts/vendor_vllm_openai_api.py``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

DATA = Path(__file__).parents[1] / "data"
API_FILE = DATA / "vllm-0.33.0-openai-api.json"
PROBES_FILE = DATA / "vllm-0.33.0-openai-probes.json"
# Fields whose dict keys are data (token strings, token ids), not field names.
_DATA_KEYED = frozenset({"top_logprobs", "prompt_logprobs"})
# Stream chunk and response models of each path.
MODELS = {
    "/v1/completions": ("CompletionResponse", "CompletionStreamResponse"),
    "/v1/chat/completions": ("ChatCompletionResponse", "ChatCompletionStreamResponse"),
    "/tokenize": ("TokenizeResponse", None),
    "/detokenize": ("DetokenizeResponse", None),
    "/v1/responses": ("ResponsesResponse", None),  # events: "ResponsesStreamEvent:<type>"
}


@functools.cache
def api() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(API_FILE.read_text())
    return data


@functools.cache
def probes() -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in json.loads(PROBES_FILE.read_text())["probes"]}


def request_fields(model: str) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = api()["requests"][model]["fields"]
    return fields


def validate(model: str, value: Any) -> None:
    """Raises if ``value`` does not match vLLM's response model ``model``."""
    schema = api()["schemas"][model]
    jsonschema.Draft202012Validator(schema).validate(value)


def shape_diff(ours: Any, theirs: Any, path: str = "", data_keyed: bool = False) -> list[str]:
    """Where ``ours`` has other keys (recursively) than vLLM's answer ``theirs``.

    Values may differ (the stub model emits other tokens), but a null must be null in both,
    except where what stopped a sequence shows (``stop_reason``, a Responses API's
    ``incomplete_details``) and list items (a prompt position without logprobs).
    """
    if ours is None or theirs is None:
        if (ours is None) == (theirs is None) or path.endswith(
            (".stop_reason", ".incomplete_details", "[]")
        ):
            return []
        return [f"{path}: ours is {ours!r:.40}, vLLM's {theirs!r:.40}"]
    if isinstance(theirs, dict) and isinstance(ours, dict):
        if data_keyed:  # compare one entry's shape
            if not ours or not theirs:
                return []
            return shape_diff(next(iter(ours.values())), next(iter(theirs.values())), path + "[*]")
        diffs = []
        if ours.keys() != theirs.keys():
            diffs.append(
                f"{path or '.'}: ours has {sorted(ours.keys() - theirs.keys())} extra, "
                f"{sorted(theirs.keys() - ours.keys())} missing"
            )
        for key in ours.keys() & theirs.keys():
            diffs += shape_diff(ours[key], theirs[key], f"{path}.{key}", key in _DATA_KEYED)
        return diffs
    if isinstance(theirs, list) and isinstance(ours, list):
        pairs = [
            (o, t) for o, t in zip(ours, theirs, strict=False) if o is not None and t is not None
        ]
        return shape_diff(pairs[0][0], pairs[0][1], path + "[]", data_keyed) if pairs else []
    if type(ours) is not type(theirs) and not {type(ours), type(theirs)} <= {int, float}:
        return [f"{path}: ours is {type(ours).__name__}, vLLM's {type(theirs).__name__}"]
    return []


def event_kind(event: Any) -> str:
    """A stream event's role: role, echo, token, finish, usage, error or done."""
    if event == "[DONE]":
        return "done"
    if "error" in event:
        return "error"
    if not event["choices"]:
        return "usage"
    choice = event["choices"][0]
    if choice.get("finish_reason") is not None:
        return "finish"
    if "role" in choice.get("delta", {}):
        return "role"
    return "token" if "token_ids" in choice or "text" in choice else "echo"


def stream_diff(ours: list[Any], theirs: list[Any]) -> list[str]:
    """The first event of each kind has vLLM's shape; the kinds come in vLLM's order."""
    diffs = []
    first_ours: dict[str, Any] = {}
    first_theirs: dict[str, Any] = {}
    for events, first in ((ours, first_ours), (theirs, first_theirs)):
        for event in events:
            first.setdefault(event_kind(event), event)
    # A sequence that ends at its first token (EOS) has no token chunk before its last.
    if first_ours.keys() - {"token"} != first_theirs.keys() - {"token"}:
        diffs.append(f"event kinds: ours {sorted(first_ours)}, vLLM's {sorted(first_theirs)}")
    for kind in first_ours.keys() & first_theirs.keys() - {"done"}:
        diffs += shape_diff(first_ours[kind], first_theirs[kind], f"<{kind}>")
    if ours[-1:] != ["[DONE]"]:
        diffs.append("the stream does not end with [DONE]")
    return diffs


def responses_stream_diff(ours: list[Any], theirs: list[Any]) -> list[str]:
    """Responses API events: vLLM's event types in vLLM's order, each of vLLM's shape."""

    def types(events: list[Any]) -> list[str]:
        out: list[str] = []
        for event in events:
            kind = event["type"]
            if not out or out[-1] != kind or kind != "response.output_text.delta":
                out.append(kind)
        return out

    def final(kind: str) -> str:  # completed and incomplete end a response alike
        return "response.end" if kind in ("response.completed", "response.incomplete") else kind

    diffs = []
    if [final(t) for t in types(ours)] != [final(t) for t in types(theirs)]:
        diffs.append(f"event types: ours {types(ours)}, vLLM's {types(theirs)}")
    first_theirs = {final(e["type"]): e for e in reversed(theirs)}
    for event in ours:
        kind = final(event["type"])
        if kind in first_theirs:
            diffs += shape_diff(event, first_theirs.pop(kind), f"<{kind}>")
    if [e["sequence_number"] for e in ours] != list(range(len(ours))):
        diffs.append("sequence numbers are not 0, 1, 2, ...")
    return diffs
