"""Writes the description of vLLM's OpenAI API that the engines are held to, from vLLM itself.

Two files under tests/data/, both generated here and committed:

- ``vllm-<version>-openai-api.json``: for /v1/completions, /v1/chat/completions,
  /v1/responses, /tokenize, /detokenize, /version and /v1/models, the request models'
  fields (name, type, default, whether OpenAI's SDK defines it or it is a vLLM extension,
  and the source section it sits in), the OpenAI fields vLLM does not declare (it ignores
  them), and the JSON schemas of the response models (for validating our responses).
- ``vllm-<version>-openai-probes.json``: requests sent to vLLM's real routes and serving
  classes over a stub model (``vllm_stub_server.py``), with vLLM's answers: one per field
  example of ``vllm_deploy.engines.protocol.support.SUPPORT``, values vLLM refuses, and
  streams whose chunk shapes our engines must reproduce.

Run it with a Python that can import the vLLM release to vendor (no GPU needed), and the
tiny model (``vllm-deploy make-tiny-model DIR``) for the tokenizer:

    VLLM_TARGET_DEVICE=cpu python scripts/vendor_vllm_openai_api.py --model DIR

It then checks its own output: every field has a ``SUPPORT`` entry, vLLM refuses every
``refused-as-vllm`` example and serves every other one; it exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vllm_deploy.engines.protocol.support import ENDPOINTS, MODEL, SUPPORT  # noqa: E402

# (vLLM module, request model, OpenAI SDK params module, its TypedDict names)
REQUESTS = {
    "CompletionRequest": ("vllm.entrypoints.openai.completion.protocol", "openai.types.completion_create_params"),
    "ChatCompletionRequest": ("vllm.entrypoints.openai.chat_completion.protocol", "openai.types.chat.completion_create_params"),
    "ResponsesRequest": ("vllm.entrypoints.openai.responses.protocol", "openai.types.responses.response_create_params"),
    "TokenizeCompletionRequest": ("vllm.entrypoints.serve.tokenize.protocol", None),
    "TokenizeChatRequest": ("vllm.entrypoints.serve.tokenize.protocol", None),
    "DetokenizeRequest": ("vllm.entrypoints.serve.tokenize.protocol", None),
}  # fmt: skip
RESPONSES = {
    "CompletionResponse": "vllm.entrypoints.openai.completion.protocol",
    "CompletionStreamResponse": "vllm.entrypoints.openai.completion.protocol",
    "ChatCompletionResponse": "vllm.entrypoints.openai.chat_completion.protocol",
    "ChatCompletionStreamResponse": "vllm.entrypoints.openai.chat_completion.protocol",
    "ResponsesResponse": "vllm.entrypoints.openai.responses.protocol",
    "TokenizeResponse": "vllm.entrypoints.serve.tokenize.protocol",
    "DetokenizeResponse": "vllm.entrypoints.serve.tokenize.protocol",
    "ModelList": "vllm.entrypoints.serve.engine.protocol",
    "ErrorResponse": "vllm.entrypoints.serve.engine.protocol",
}
ENDPOINT_MODELS = [
    {"method": "POST", "path": "/v1/completions", "request": ["CompletionRequest"],
     "responses": ["CompletionResponse", "CompletionStreamResponse"]},
    {"method": "POST", "path": "/v1/chat/completions", "request": ["ChatCompletionRequest"],
     "responses": ["ChatCompletionResponse", "ChatCompletionStreamResponse"]},
    {"method": "POST", "path": "/v1/responses", "request": ["ResponsesRequest"],
     "responses": ["ResponsesResponse", "ResponsesStreamEvent:<type>"]},
    {"method": "POST", "path": "/tokenize",
     "request": ["TokenizeCompletionRequest", "TokenizeChatRequest"],
     "responses": ["TokenizeResponse"]},
    {"method": "POST", "path": "/detokenize", "request": ["DetokenizeRequest"],
     "responses": ["DetokenizeResponse"]},
    {"method": "GET", "path": "/version", "request": [], "responses": ["VersionResponse"],
     "note": "vllm/entrypoints/serve/instrumentator/basic.py show_version: "
             "{\"version\": VLLM_VERSION}"},
    {"method": "GET", "path": "/v1/models", "request": [], "responses": ["ModelList"]},
]  # fmt: skip
# The events of a streamed text response (vLLM's StreamingResponsesResponse alias leaves the
# text events out, though its SimpleStreamingEventProcessor sends them).
STREAM_EVENTS = {
    "response.created": "vllm.entrypoints.openai.responses.protocol:ResponseCreatedEvent",
    "response.in_progress": "vllm.entrypoints.openai.responses.protocol:ResponseInProgressEvent",
    "response.completed": "vllm.entrypoints.openai.responses.protocol:ResponseCompletedEvent",
    "response.incomplete": "vllm.entrypoints.openai.responses.protocol:ResponseIncompleteEvent",
    "response.output_item.added": "openai.types.responses:ResponseOutputItemAddedEvent",
    "response.output_item.done": "openai.types.responses:ResponseOutputItemDoneEvent",
    "response.content_part.added": "openai.types.responses:ResponseContentPartAddedEvent",
    "response.content_part.done": "openai.types.responses:ResponseContentPartDoneEvent",
    "response.output_text.delta": "openai.types.responses:ResponseTextDeltaEvent",
    "response.output_text.done": "openai.types.responses:ResponseTextDoneEvent",
}
VERSION_SCHEMA = {
    "type": "object",
    "properties": {"version": {"type": "string"}},
    "required": ["version"],
    "title": "VersionResponse",
}

_M = [{"role": "user", "content": "Hello there"}]
_TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
# Values vLLM refuses, and requests whose answers show its response shapes.
EXTRA_PROBES: list[tuple[str, str, Any]] = [
    ("cmpl.max_tokens.type", "/v1/completions", {"prompt": "x", "max_tokens": "ten"}),
    ("cmpl.max_tokens.zero", "/v1/completions", {"prompt": "x", "max_tokens": 0}),
    ("cmpl.max_tokens.over_context", "/v1/completions", {"prompt": "x", "max_tokens": 100000}),
    ("cmpl.temperature.range", "/v1/completions", {"prompt": "x", "temperature": 9}),
    ("cmpl.temperature.negative", "/v1/completions", {"prompt": "x", "temperature": -1}),
    ("cmpl.top_p.zero", "/v1/completions", {"prompt": "x", "top_p": 0}),
    ("cmpl.top_k.range", "/v1/completions", {"prompt": "x", "top_k": -2}),
    ("cmpl.min_p.range", "/v1/completions", {"prompt": "x", "min_p": 2}),
    ("cmpl.n.zero", "/v1/completions", {"prompt": "x", "n": 0}),
    ("cmpl.n.greedy", "/v1/completions", {"prompt": "x", "n": 2, "temperature": 0}),
    ("cmpl.presence_penalty.range", "/v1/completions", {"prompt": "x", "presence_penalty": 3}),
    ("cmpl.frequency_penalty.range", "/v1/completions", {"prompt": "x", "frequency_penalty": -3}),
    ("cmpl.repetition_penalty.zero", "/v1/completions", {"prompt": "x", "repetition_penalty": 0}),
    ("cmpl.min_tokens.over_max", "/v1/completions", {"prompt": "x", "max_tokens": 2, "min_tokens": 5}),
    ("cmpl.min_tokens.negative", "/v1/completions", {"prompt": "x", "min_tokens": -1}),
    ("cmpl.logprobs.over_max", "/v1/completions", {"prompt": "x", "logprobs": 50}),
    ("cmpl.logprobs.negative", "/v1/completions", {"prompt": "x", "logprobs": -5}),
    ("cmpl.logprobs.over_max.stream", "/v1/completions", {"prompt": "x", "logprobs": 50, "stream": True}),
    ("chat.logit_bias.vocab.stream", "/v1/chat/completions", {"messages": _M, "logit_bias": {"999999": 1}, "stream": True}),
    ("cmpl.logprobs.string", "/v1/completions", {"prompt": "x", "logprobs": "2"}),
    ("cmpl.prompt_logprobs.stream", "/v1/completions", {"prompt": "x", "prompt_logprobs": 1, "stream": True}),
    ("cmpl.logprob_token_ids.alone", "/v1/completions", {"prompt": "x", "logprob_token_ids": [40]}),
    ("cmpl.stop.empty", "/v1/completions", {"prompt": "x", "stop": [""]}),
    ("cmpl.stop.too_many", "/v1/completions", {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}),
    ("cmpl.stream_options.no_stream", "/v1/completions", {"prompt": "x", "stream_options": {"include_usage": True}}),
    ("cmpl.logit_bias.key", "/v1/completions", {"prompt": "x", "logit_bias": {"x": 1.0}}),
    ("cmpl.logit_bias.vocab", "/v1/completions", {"prompt": "x", "logit_bias": {"999999": 1.0}}),
    ("cmpl.allowed_token_ids.empty", "/v1/completions", {"prompt": "x", "allowed_token_ids": []}),
    ("cmpl.allowed_token_ids.vocab", "/v1/completions", {"prompt": "x", "allowed_token_ids": [999999]}),
    ("cmpl.stop_token_ids.vocab", "/v1/completions", {"prompt": "x", "stop_token_ids": [999999]}),
    ("cmpl.bad_words.empty", "/v1/completions", {"prompt": "x", "bad_words": [""]}),
    ("cmpl.seed.range", "/v1/completions", {"prompt": "x", "seed": 2**64}),
    ("cmpl.cache_salt.empty", "/v1/completions", {"prompt": "x", "cache_salt": ""}),
    ("cmpl.cache_salt.chars", "/v1/completions", {"prompt": "x", "cache_salt": "a/b"}),
    ("cmpl.truncate_prompt_tokens.over", "/v1/completions", {"prompt": "x", "truncate_prompt_tokens": 300}),
    ("cmpl.truncation_side.value", "/v1/completions", {"prompt": "x", "truncation_side": "middle"}),
    ("cmpl.routed_experts_prompt_start.over", "/v1/completions", {"prompt": "x", "routed_experts_prompt_start": 99}),
    ("cmpl.repetition_detection.bad", "/v1/completions", {"prompt": "x", "repetition_detection": {"max_pattern_size": 2, "min_count": 1}}),
    ("cmpl.prompt.empty", "/v1/completions", {"prompt": ""}),
    ("cmpl.prompt.missing", "/v1/completions", {"max_tokens": 3}),
    ("cmpl.prompt.bad_id", "/v1/completions", {"prompt": [1, 999999]}),
    ("cmpl.prompt.negative_id", "/v1/completions", {"prompt": [1, -1]}),
    ("cmpl.prompt.too_long", "/v1/completions", {"prompt": [5] * 300}),
    ("cmpl.prompt.fills_context", "/v1/completions", {"prompt": [5] * 256}),
    ("cmpl.echo.suffix", "/v1/completions", {"prompt": "x", "echo": True, "suffix": "y"}),
    ("cmpl.model.unknown", "/v1/completions", {"prompt": "x", "model": "gpt-99"}),
    ("cmpl.unknown_field", "/v1/completions", {"prompt": "x", "max_tokens": 2, "max_tokenz": 3, "best_of": 2}),
    ("chat.messages.missing", "/v1/chat/completions", {"max_tokens": 2}),
    ("chat.messages.empty", "/v1/chat/completions", {"messages": [], "max_tokens": 2}),
    ("chat.messages.role", "/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]}),
    ("chat.messages.content_type", "/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}),
    ("chat.messages.image", "/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/a.png"}}]}]}),
    ("chat.messages.system_parts", "/v1/chat/completions", {"messages": [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, *_M], "max_tokens": 2}),
    ("chat.messages.assistant_none", "/v1/chat/completions", {"messages": [*_M, {"role": "assistant", "content": None}, *_M], "max_tokens": 2}),
    ("chat.n.zero", "/v1/chat/completions", {"messages": _M, "n": 0}),
    ("chat.top_logprobs.alone", "/v1/chat/completions", {"messages": _M, "top_logprobs": 2}),
    ("chat.top_logprobs.negative", "/v1/chat/completions", {"messages": _M, "logprobs": True, "top_logprobs": -5}),
    ("chat.top_logprobs.over_max", "/v1/chat/completions", {"messages": _M, "logprobs": True, "top_logprobs": 50}),
    ("chat.tools.empty", "/v1/chat/completions", {"messages": _M, "tools": []}),
    ("chat.tools.default_choice", "/v1/chat/completions", {"messages": _M, "tools": [_TOOL]}),
    ("chat.tool_choice.required", "/v1/chat/completions", {"messages": _M, "tools": [_TOOL], "tool_choice": "required"}),
    ("chat.tool_choice.named", "/v1/chat/completions", {"messages": _M, "tools": [_TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}}),
    ("chat.tool_choice.no_tools", "/v1/chat/completions", {"messages": _M, "tool_choice": "auto"}),
    ("chat.continue_and_generation_prompt", "/v1/chat/completions", {"messages": _M, "continue_final_message": True}),
    ("chat.max_completion_tokens.over_context", "/v1/chat/completions", {"messages": _M, "max_completion_tokens": 100000}),
    ("chat.response_format.text", "/v1/chat/completions", {"messages": _M, "max_tokens": 2, "response_format": {"type": "text"}}),
    ("chat.response_format.schema_missing", "/v1/chat/completions", {"messages": _M, "response_format": {"type": "json_schema"}}),
    ("chat.chat_template_kwargs.template", "/v1/chat/completions", {"messages": _M, "chat_template_kwargs": {"chat_template": "x"}}),
    ("resp.max_output_tokens.over_context", "/v1/responses", {"input": "x", "max_output_tokens": 100000}),
    ("resp.input.too_long", "/v1/responses", {"input": "word " * 300}),
    ("resp.input.missing", "/v1/responses", {"max_output_tokens": 2}),
    ("resp.tool_choice.required_no_tools", "/v1/responses", {"input": "x", "tool_choice": "required"}),
    ("resp.background.no_store", "/v1/responses", {"input": "x", "background": True, "store": False}),
    ("resp.chat_template_kwargs.template", "/v1/responses", {"input": "x", "chat_template_kwargs": {"chat_template": "x"}}),
    ("resp.temperature.range", "/v1/responses", {"input": "x", "temperature": 9}),
    ("tokenize.prompt.missing", "/tokenize", {"add_special_tokens": True}),
    ("detokenize.tokens.negative", "/detokenize", {"tokens": [-1]}),
    ("detokenize.tokens.vocab", "/detokenize", {"tokens": [999999]}),
    # Shapes of successful answers.
    ("shape.cmpl", "/v1/completions", {"prompt": "x", "max_tokens": 3}),
    ("shape.cmpl.stream", "/v1/completions", {"prompt": "x", "max_tokens": 3, "stream": True}),
    ("shape.cmpl.stream.usage", "/v1/completions", {"prompt": "x", "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}}),
    ("shape.cmpl.stream.continuous", "/v1/completions", {"prompt": "x", "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True, "continuous_usage_stats": True}}),
    ("shape.cmpl.stream.n_logprobs_echo", "/v1/completions", {"prompt": "x", "max_tokens": 3, "stream": True, "n": 2, "logprobs": 1, "echo": True}),
    ("shape.cmpl.batch_n", "/v1/completions", {"prompt": ["x", "y"], "max_tokens": 2, "n": 2}),
    ("shape.cmpl.logprobs_echo", "/v1/completions", {"prompt": "x y", "max_tokens": 2, "logprobs": 2, "echo": True}),
    ("shape.cmpl.return_token_ids", "/v1/completions", {"prompt": "x", "max_tokens": 2, "return_token_ids": True, "prompt_logprobs": 1}),
    ("shape.chat", "/v1/chat/completions", {"messages": _M, "max_tokens": 3}),
    ("shape.chat.stream", "/v1/chat/completions", {"messages": _M, "max_tokens": 3, "stream": True}),
    ("shape.chat.stream.usage", "/v1/chat/completions", {"messages": _M, "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}}),
    ("shape.chat.stream.continuous", "/v1/chat/completions", {"messages": _M, "max_completion_tokens": 3, "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True, "continuous_usage_stats": True}}),
    ("shape.chat.stream.n_logprobs", "/v1/chat/completions", {"messages": _M, "max_tokens": 2, "stream": True, "n": 2, "logprobs": True, "top_logprobs": 2}),
    ("shape.chat.logprobs", "/v1/chat/completions", {"messages": _M, "max_tokens": 2, "logprobs": True, "top_logprobs": 2}),
    ("shape.chat.return_token_ids", "/v1/chat/completions", {"messages": _M, "max_tokens": 2, "return_token_ids": True, "return_prompt_text": True}),
    ("shape.tokenize.strs", "/tokenize", {"prompt": "Hello world", "return_token_strs": True}),
    ("shape.resp", "/v1/responses", {"input": "Hello", "max_output_tokens": 3}),
    ("shape.resp.complete", "/v1/responses", {"input": "Hello", "max_output_tokens": 3, "stop_token_ids": [42]}),
    ("shape.resp.stream", "/v1/responses", {"input": "Hello", "max_output_tokens": 3, "stream": True}),
    ("shape.resp.stream.logprobs", "/v1/responses", {"input": [{"role": "system", "content": "Be brief."}, {"type": "message", "role": "user", "content": "Hi"}], "max_output_tokens": 2, "stream": True, "include": ["message.output_text.logprobs"], "top_logprobs": 1}),
    ("shape.detokenize", "/detokenize", {"tokens": [40, 41]}),
]  # fmt: skip
RAW_PROBES = [  # (id, path, raw body, content type)
    ("raw.malformed_json", "/v1/chat/completions", b'{"messages": [', "application/json"),
    ("raw.not_an_object", "/v1/completions", b"[1, 2]", "application/json"),
    ("raw.content_type", "/v1/completions", b'{"prompt": "x"}', "text/plain"),
]


def _type_name(annotation: Any) -> str:
    """A readable type: ``int | None``, ``list[str]``, ``Literal['left', 'right']``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is typing.Any:
        return "Any"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: Any) -> Any:
    from pydantic_core import PydanticUndefined

    if info.default_factory is not None:
        value = info.default_factory()
        return value if isinstance(value, list | dict) else "<generated>"
    if info.default is PydanticUndefined:
        return None
    try:
        json.dumps(info.default)
    except TypeError:
        return repr(info.default)
    return info.default


def _sections(path: str) -> dict[str, str]:
    """Field name -> the ``--8<-- [start:NAME]`` section of vLLM's source it is declared in."""
    out: dict[str, str] = {}
    section = None
    for line in Path(path).read_text().splitlines():
        if m := re.search(r"--8<-- \[(start|end):([\w-]+)\]", line):
            section = m.group(2) if m.group(1) == "start" else None
        elif section and (m := re.match(r"    (\w+)\s*:", line)):
            out.setdefault(m.group(1), section)
    return out


def _openai_fields(module: str | None) -> set[str]:
    if module is None:
        return set()
    params = __import__(module, fromlist=["_"])
    names: set[str] = set()
    for attr in (
        "CompletionCreateParamsBase",
        "ResponseCreateParamsBase",
        "CompletionCreateParamsStreaming",
        "ResponseCreateParamsStreaming",
    ):
        if hasattr(params, attr):
            names |= set(typing.get_type_hints(getattr(params, attr)))
    return names


def describe() -> dict[str, Any]:
    import openai
    from pydantic import TypeAdapter
    from vllm._version import __commit_id__, __version__

    requests: dict[str, Any] = {}
    openai_ignored: dict[str, list[str]] = {}
    for name, (module, sdk) in REQUESTS.items():
        mod = __import__(module, fromlist=[name])
        model = getattr(mod, name)
        sections = _sections(mod.__file__)
        sdk_fields = _openai_fields(sdk)
        fields = []
        for field_name, info in model.model_fields.items():
            origin = "openai" if field_name in sdk_fields or not sdk else "vllm"
            fields.append(
                {
                    "name": field_name,
                    "type": _type_name(info.annotation),
                    "required": info.is_required(),
                    "default": _default(info),
                    "origin": origin,
                    "section": sections.get(field_name),
                }
            )
        requests[name] = {"module": module, "fields": fields}
        if sdk:
            openai_ignored[name] = sorted(sdk_fields - set(model.model_fields))
    schemas = {
        name: TypeAdapter(getattr(__import__(module, fromlist=[name]), name)).json_schema(
            mode="serialization"
        )
        for name, module in RESPONSES.items()
    }
    schemas["VersionResponse"] = VERSION_SCHEMA
    for event, where in STREAM_EVENTS.items():
        module, name = where.split(":")
        model = getattr(__import__(module, fromlist=[name]), name)
        schemas[f"ResponsesStreamEvent:{event}"] = TypeAdapter(model).json_schema(
            mode="serialization"
        )
    commit = __commit_id__.removeprefix("g") if __commit_id__ else None
    return {
        "source": (
            f"vLLM {__version__} (PyPI wheel{f', commit {commit}' if commit else ''}): the "
            "request and response models of its OpenAI-compatible server "
            "(vllm/entrypoints/openai/*/protocol.py, vllm/entrypoints/serve/*/protocol.py)"
        ),
        "generated_by": "scripts/vendor_vllm_openai_api.py",
        "license": "Apache-2.0 (vLLM); names, types and defaults of vLLM's API models",
        "vllm_version": __version__,
        "origin_rule": f"'openai' when the openai SDK {openai.__version__} defines the create "
        "parameter, else 'vllm' (a vLLM extension)",
        "endpoints": ENDPOINT_MODELS,
        "requests": requests,
        "openai_fields_vllm_ignores": openai_ignored,
        "schemas": schemas,
    }


def _normalize_field(key: str, value: Any) -> Any:
    if key in ("id", "item_id") and isinstance(value, str):
        return "<id>"
    if key in ("created", "created_at"):
        return 0
    return _normalize(value)


def _normalize(value: Any) -> Any:
    """Random ids and clock values replaced, so reruns give the same file."""
    if isinstance(value, dict):
        return {k: _normalize_field(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def _answer(resp: Any) -> dict[str, Any]:
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        events = [
            line.removeprefix("data: ")
            for line in resp.text.splitlines()
            if line.startswith("data: ")
        ]
        return {
            "status": resp.status_code,
            "events": [e if e == "[DONE]" else _normalize(json.loads(e)) for e in events],
        }
    return {"status": resp.status_code, "json": _normalize(resp.json())}


def _field_probes() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for endpoint in ENDPOINTS:
        for name, support in SUPPORT[endpoint.request_model].items():
            body = {**endpoint.base, **support.context, name: support.example}
            body = {k: ("tiny" if v == MODEL else v) for k, v in body.items()}
            out.append((f"field.{endpoint.request_model}.{name}", endpoint.path, body))
    return out


def probe(model_dir: str) -> list[dict[str, Any]]:
    from starlette.testclient import TestClient

    from vllm_stub_server import build_app

    client = TestClient(build_app(model_dir), raise_server_exceptions=False)
    records = []
    for probe_id, path, body in [*_field_probes(), *EXTRA_PROBES]:
        resp = client.post(path, json=body)
        records.append({"id": probe_id, "path": path, "body": body, **_answer(resp)})
    for probe_id, path, raw, content_type in RAW_PROBES:
        resp = client.post(path, content=raw, headers={"content-type": content_type})
        records.append(
            {
                "id": probe_id,
                "path": path,
                "raw": raw.decode(),
                "content_type": content_type,
                **_answer(resp),
            }
        )
    return records


def check(api: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """What the support table claims about vLLM, held against vLLM's answers."""
    problems = []
    for endpoint in ENDPOINTS:
        model = endpoint.request_model
        declared = {f["name"] for f in api["requests"][model]["fields"]}
        problems += [
            f"{model}.{n}: no SUPPORT entry" for n in sorted(declared - SUPPORT[model].keys())
        ]
        problems += [
            f"{model}.{n}: not a vLLM field" for n in sorted(SUPPORT[model].keys() - declared)
        ]
    by_id = {r["id"]: r for r in records}
    for endpoint in ENDPOINTS:
        for name, support in SUPPORT[endpoint.request_model].items():
            record = by_id[f"field.{endpoint.request_model}.{name}"]
            refused = record["status"] != 200 or any(
                isinstance(e, dict) and "error" in e for e in record.get("events", [])
            )
            if refused != (support.handling == "refused-as-vllm"):
                problems.append(
                    f"{record['id']}: vLLM answered {record['status']} "
                    f"but SUPPORT says {support.handling}: {json.dumps(record)[:300]}"
                )
    return problems


def _write(path: Path, head: dict[str, Any], key: str, items: list[Any]) -> None:
    # One item per line: a vLLM bump shows as a readable diff.
    text = json.dumps(head, indent=1)[:-2] + f',\n "{key}": [\n'
    text += ",\n".join("  " + json.dumps(item, sort_keys=False) for item in items)
    path.write_text(text + "\n ]\n}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a tiny model dir (for the tokenizer)")
    opts = parser.parse_args()
    api = describe()
    version = api["vllm_version"]
    api_path = DATA / f"vllm-{version}-openai-api.json"
    # One schema per line, compact: they are large and read by programs only.
    schemas = api.pop("schemas")
    text = json.dumps(api, indent=1)[:-2] + ',\n "schemas": {\n'
    text += ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in schemas.items())
    api_path.write_text(text + "\n }\n}\n")
    api["schemas"] = schemas
    records = probe(opts.model)
    head = {
        "source": api["source"].replace("the request and response models of its", "answers of its"),
        "generated_by": api["generated_by"],
        "license": api["license"],
        "vllm_version": version,
        "server": {
            "model": "vllm-deploy make-tiny-model (tokenizer and chat template); stub outputs",
            "served_model_name": "tiny",
            "max_model_len": 256,
            "max_logprobs": 20,
            "flags": "vLLM's defaults: no tool parser, no reasoning parser, untrusted request "
            "chat templates and mm kwargs, no prompt embeds, --scheduling-policy fcfs",
        },
    }
    probes_path = DATA / f"vllm-{version}-openai-probes.json"
    _write(probes_path, head, "probes", records)
    print(
        f"wrote {api_path.relative_to(ROOT)} and {probes_path.relative_to(ROOT)}: "
        f"{len(records)} probes of vLLM {version}"
    )
    problems = check(api, records)
    for problem in problems:
        print("MISMATCH", problem)
    if problems:
        sys.exit(f"{len(problems)} mismatches between SUPPORT and vLLM")


if __name__ == "__main__":
    main()
