"""How the GPU-free engines handle every request field of vLLM 0.33.0's OpenAI server.

One entry per field of each vLLM request model (``tests/data/vllm-0.33.0-openai-api.json``
lists them, generated from vLLM's source). Each says what happens here, and carries an
``example``: a non-default value that the parity test sends to both engines and that
``scripts/vendor_vllm_openai_api.py`` sent to vLLM's own serving code, so the two answers can
be compared. A field a future vLLM adds has no entry and fails the parity test until it gets
one. docs/engines.md's parity table is rendered from this table (``render_parity_table``).

Pure data: the vLLM-side generator imports it without the engines' dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = ["ENDPOINTS", "SUPPORT", "Endpoint", "Handling", "Support", "render_parity_table"]

Handling = Literal["implemented", "no-op", "refused-as-vllm", "not-implemented"]
# What each handling promises, as the docs table says it.
_HANDLING_TEXT: dict[Handling, str] = {
    "implemented": "yes",
    "no-op": "accepted, no effect (as vLLM with these flags)",
    "refused-as-vllm": "refused exactly as vLLM with default flags",
    "not-implemented": "**refused: 400 naming the field** (vLLM serves it)",
}
MODEL = "$MODEL"  # replaced by the served model name when a request is sent


@dataclass(frozen=True)
class Support:
    """How one field is handled, and a request value that exercises it."""

    handling: Handling
    example: Any
    note: str = ""
    # Other fields the example needs (e.g. `top_logprobs` needs `logprobs: true`).
    context: Mapping[str, Any] = field(default_factory=dict)
    # Where the simulated engine differs from the reference engine.
    simulated: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A vLLM request model, the route that takes it, and a minimal valid body."""

    request_model: str
    method: Literal["POST"]
    path: str
    base: Mapping[str, Any]


_MSG = [{"role": "user", "content": "Hello there"}]
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "CompletionRequest", "POST", "/v1/completions", {"prompt": "Hello there", "max_tokens": 4}
    ),
    Endpoint(
        "ChatCompletionRequest", "POST", "/v1/chat/completions", {"messages": _MSG, "max_tokens": 4}
    ),
    Endpoint("TokenizeCompletionRequest", "POST", "/tokenize", {"prompt": "Hello there"}),
    Endpoint("TokenizeChatRequest", "POST", "/tokenize", {"messages": _MSG}),
    Endpoint("DetokenizeRequest", "POST", "/detokenize", {"tokens": [40, 41, 42]}),
    Endpoint(
        "ResponsesRequest",
        "POST",
        "/v1/responses",
        {"input": "Hello there", "max_output_tokens": 4},
    ),
)

_FUNCTION = {"name": "get_time", "parameters": {"type": "object"}}
_TOOL = {"type": "function", "function": _FUNCTION}
_RESPONSES_TOOL = {"type": "function", **_FUNCTION}
_SIM_LOGPROBS = "its word model's log-probabilities: deterministic and well-formed"

# Fields of the sampling parameters, the same on /v1/completions and /v1/chat/completions.
_SAMPLING: dict[str, Support] = {
    "model": Support("implemented", MODEL, "the served name; empty or missing means it; else 404"),
    "frequency_penalty": Support(
        "implemented", 1.5, "subtracted per earlier occurrence in the output"
    ),
    "presence_penalty": Support(
        "implemented", 1.5, "subtracted once per token present in the output"
    ),
    "logit_bias": Support(
        "implemented", {"40": 5.0}, "added to the logits, clamped to [-100, 100]"
    ),
    "seed": Support("implemented", 7, "same seed, same output; choice i of n uses seed + i"),
    "stop": Support("implemented", ["\n"], "up to 4 strings; stop_reason names the one hit"),
    "stream": Support("implemented", True, "server-sent events ending with `data: [DONE]`"),
    "stream_options": Support(
        "implemented",
        {"include_usage": True, "continuous_usage_stats": True},
        "`include_usage`: a last chunk with usage; `continuous_usage_stats`: usage on every chunk",
        context={"stream": True},
    ),
    "temperature": Support("implemented", 0.5, "0 is greedy"),
    "top_p": Support("implemented", 0.9),
    "user": Support("no-op", "user-1", "vLLM ignores it too"),
    "n": Support(
        "implemented",
        2,
        "n choices, with per-choice `index` in streams",
        context={"temperature": 1.0},
    ),
    "use_beam_search": Support("not-implemented", True, "beam search is not implemented here"),
    "top_k": Support("implemented", 5, "0 or -1 disables it"),
    "min_p": Support("implemented", 0.1),
    "repetition_penalty": Support("implemented", 1.3, "on tokens of the prompt and the output"),
    "watermarking": Support("no-op", True, "no watermark configuration: vLLM runs without too"),
    "length_penalty": Support("no-op", 0.5, "used by beam search only, as in vLLM"),
    "stop_token_ids": Support("implemented", [40], "finish with stop_reason = the token id"),
    "include_stop_str_in_output": Support("implemented", True, context={"stop": ["\n"]}),
    "ignore_eos": Support("implemented", True, "generation continues past EOS"),
    "min_tokens": Support("implemented", 3, "EOS, stop ids and stop strings wait for min_tokens"),
    "skip_special_tokens": Support("implemented", False, "special tokens appear in the text"),
    "spaces_between_special_tokens": Support(
        "no-op", False, "fast tokenizers ignore it, as in vLLM"
    ),
    "truncate_prompt_tokens": Support(
        "implemented", 2, "keeps the last (or first) N prompt tokens"
    ),
    "truncation_side": Support("implemented", "right", context={"truncate_prompt_tokens": 2}),
    "allowed_token_ids": Support("implemented", [40, 41, 42], "sampling only among these ids"),
    "prompt_logprobs": Support(
        "implemented",
        2,
        "per prompt token, `prompt_logprobs` in the response",
        simulated=_SIM_LOGPROBS,
    ),
    "bad_words": Support(
        "implemented", ["the"], "the last token of a bad word is never sampled after its prefix"
    ),
    "priority": Support(
        "implemented",
        5,
        "ignored by the default `--scheduling-policy fcfs`, as in vLLM; with `priority`, "
        "lower values leave the queue first (running requests are not preempted)",
    ),
    "request_id": Support(
        "implemented", "req-42", "the response id is built from it (X-Request-Id wins)"
    ),
    "session_id": Support("no-op", "session-1", "a routing hint; no effect on one engine"),
    "return_tokens_as_token_ids": Support(
        "implemented", True, "logprob tokens as `token_id:N`", context={"logprobs": 1}
    ),
    "return_token_ids": Support(
        "implemented", True, "`token_ids` and `prompt_token_ids` in the response"
    ),
    "return_weight_versions": Support(
        "no-op", True, "`weight_versions` is null: no weight-version labels, as vLLM without them"
    ),
    "routed_experts_prompt_start": Support(
        "no-op", 1, "validated; routed experts are off, as in vLLM"
    ),
    "return_token_offsets": Support("no-op", True, "render endpoints only, as in vLLM"),
    "mm_payload": Support("no-op", "none", "render endpoints only, as in vLLM"),
    "return_mm_kwargs": Support("no-op", False, "render endpoints only, as in vLLM"),
    "cache_salt": Support("no-op", "salt-1234", "validated as vLLM does; no prefix cache here"),
    "kv_transfer_params": Support(
        "no-op", {"do_remote_prefill": False}, "no KV connector, as vLLM without one"
    ),
    "ec_transfer_params": Support(
        "no-op", {"x": 1}, "no encoder-cache connector, as vLLM without one"
    ),
    "vllm_xargs": Support("no-op", {"tag": "a"}, "no custom extension reads it, as in vLLM"),
    "repetition_detection": Support(
        "implemented",
        {"max_pattern_size": 2, "min_count": 3},
        "finish_reason `repetition`, stop_reason `repetition_detected`",
    ),
    "thinking_token_budget": Support("refused-as-vllm", 10, "needs a reasoning parser"),
    "stream_interval": Support(
        "implemented", 2, "tokens per streamed chunk", context={"stream": True}
    ),
    "logprob_token_ids": Support(
        "implemented",
        [40, 41],
        "logprobs of these ids at every position",
        context={"logprobs": 2},
        simulated=_SIM_LOGPROBS,
    ),
    "response_format": Support(
        "not-implemented",
        {"type": "json_object"},
        '`{"type": "text"}` is accepted; structured output is not implemented here',
    ),
    "structured_outputs": Support(
        "not-implemented", {"choice": ["yes", "no"]}, "structured output is not implemented here"
    ),
}

_COMPLETION: dict[str, Support] = {
    **_SAMPLING,
    "prompt": Support(
        "implemented",
        ["Hello", "Good morning"],
        "a string, a list of strings (a batch), token ids or a list of token-id lists",
    ),
    "echo": Support("implemented", True, "the prompt is prepended to the text (and its logprobs)"),
    "logprobs": Support(
        "implemented",
        2,
        "the completions shape: tokens, token_logprobs, top_logprobs, text_offset",
        simulated=_SIM_LOGPROBS,
    ),
    "max_tokens": Support("implemented", 3, "reduced to fit the context, as vLLM does"),
    "suffix": Support("refused-as-vllm", "tail", "needs a model with FIM rendering"),
    "prompt_embeds": Support("refused-as-vllm", "AAAA", "needs `--enable-prompt-embeds`"),
    "add_special_tokens": Support("implemented", False, "no BOS added to the prompt"),
}

_CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
_CHAT: dict[str, Support] = {
    **_SAMPLING,
    "messages": Support(
        "implemented",
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}],
            }
        ],
        "through the model's chat template; text content parts are joined with newlines",
    ),
    "logprobs": Support(
        "implemented", True, "the chat shape: content[].top_logprobs", simulated=_SIM_LOGPROBS
    ),
    "top_logprobs": Support("implemented", 2, context={"logprobs": True}, simulated=_SIM_LOGPROBS),
    "max_tokens": Support("implemented", 3, "deprecated alias of max_completion_tokens"),
    "max_completion_tokens": Support("implemented", 3, "reduced to fit the context, as vLLM does"),
    "tools": Support(
        "implemented", [_TOOL], "passed to the chat template", context={"tool_choice": "none"}
    ),
    "tool_choice": Support(
        "refused-as-vllm",
        "auto",
        "`none` is served; others need `--enable-auto-tool-choice`",
        context={"tools": [_TOOL]},
    ),
    "reasoning_effort": Support("no-op", "low", "a chat-template variable; no reasoning parser"),
    "include_reasoning": Support("no-op", False, "no reasoning parser, as vLLM without one"),
    "parallel_tool_calls": Support("no-op", False, "no tool parser, as vLLM without one"),
    "echo": Support(
        "implemented", True, "the last message's content is prepended if its role is the reply's"
    ),
    "add_generation_prompt": Support("implemented", False, "passed to the chat template"),
    "continue_final_message": Support(
        "implemented", True, "the last message stays open", context={"add_generation_prompt": False}
    ),
    "add_special_tokens": Support("implemented", True, "BOS added on top of the template's"),
    "documents": Support(
        "implemented", [{"title": "t", "text": "x"}], "passed to the chat template"
    ),
    "chat_template": Support(
        "refused-as-vllm", _CHAT_TEMPLATE, "needs `--trust-request-chat-template`"
    ),
    "chat_template_kwargs": Support(
        "implemented", {"enable_thinking": False}, "passed to the chat template"
    ),
    "media_io_kwargs": Support(
        "refused-as-vllm", {"image": {"x": 1}}, "needs `--trust-request-mm-kwargs`"
    ),
    "mm_processor_kwargs": Support(
        "refused-as-vllm", {"x": 1}, "needs `--trust-request-mm-kwargs`"
    ),
    "return_prompt_text": Support("implemented", True, "`prompt_text`: the templated prompt"),
    "logprob_token_ids": replace(_SAMPLING["logprob_token_ids"], context={"logprobs": True}),
    "return_tokens_as_token_ids": replace(
        _SAMPLING["return_tokens_as_token_ids"], context={"logprobs": True}
    ),
}

_TOKENIZE: dict[str, Support] = {
    "model": _SAMPLING["model"],
    "prompt": Support("implemented", "Hello world"),
    "add_special_tokens": Support("implemented", False),
    "return_token_strs": Support("implemented", True, "`token_strs`: the tokenizer's pieces"),
}

_TOKENIZE_CHAT: dict[str, Support] = {
    "model": _SAMPLING["model"],
    "messages": _CHAT["messages"],
    "add_generation_prompt": _CHAT["add_generation_prompt"],
    "return_token_strs": _TOKENIZE["return_token_strs"],
    "continue_final_message": _CHAT["continue_final_message"],
    "add_special_tokens": _CHAT["add_special_tokens"],
    "chat_template": _CHAT["chat_template"],
    "chat_template_kwargs": _CHAT["chat_template_kwargs"],
    "media_io_kwargs": _CHAT["media_io_kwargs"],
    "mm_processor_kwargs": _CHAT["mm_processor_kwargs"],
    "tools": Support("implemented", [_TOOL], "passed to the chat template"),
}

_DETOKENIZE: dict[str, Support] = {
    "model": _SAMPLING["model"],
    "tokens": Support("implemented", [40, 41], "decoded with special tokens"),
}


def _responses() -> dict[str, Support]:
    from vllm_deploy.engines.protocol.support_responses import responses_support

    return responses_support(_SAMPLING, _CHAT, _RESPONSES_TOOL, _SIM_LOGPROBS)


SUPPORT: dict[str, dict[str, Support]] = {
    "ResponsesRequest": _responses(),
    "CompletionRequest": _COMPLETION,
    "ChatCompletionRequest": _CHAT,
    "TokenizeCompletionRequest": _TOKENIZE,
    "TokenizeChatRequest": _TOKENIZE_CHAT,
    "DetokenizeRequest": _DETOKENIZE,
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _short(type_name: str, limit: int = 80) -> str:
    return type_name if len(type_name) <= limit else type_name[: limit - 1] + "…"


def render_parity_table(vllm_fields: Mapping[str, list[Mapping[str, Any]]]) -> str:
    """docs/engines.md's parity table, from the vendored vLLM fields and ``SUPPORT``.

    ``vllm_fields`` maps a request model to its fields as the vendored file lists them
    (``name``, ``type``, ``default``, ``origin``).
    """
    lines = []
    for endpoint in ENDPOINTS:
        model = endpoint.request_model
        lines += [
            f"\n**{endpoint.method} {endpoint.path}** (vLLM's `{model}`)\n",
            "| field | vLLM 0.33.0 | reference | simulated |",
            "|---|---|---|---|",
        ]
        for spec in vllm_fields[model]:
            name = spec["name"]
            support = SUPPORT[model].get(name)
            default = (
                "required" if spec.get("required") else f"default `{json.dumps(spec['default'])}`"
            )
            vllm = f"`{_short(spec['type'])}`, {default}" + (
                ", vLLM extension" if spec["origin"] == "vllm" else ""
            )
            if support is None:
                lines.append(f"| `{name}` | {_cell(vllm)} | **not handled** | **not handled** |")
                continue
            ours = _HANDLING_TEXT[support.handling] + (f": {support.note}" if support.note else "")
            sim = f"as reference; {support.simulated}" if support.simulated else "as reference"
            lines.append(f"| `{name}` | {_cell(vllm)} | {_cell(ours)} | {_cell(sim)} |")
    return "\n".join(lines).lstrip("\n") + "\n"
