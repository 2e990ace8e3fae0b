"""How the GPU-free engines handle the fields of vLLM 0.33.0's ``ResponsesRequest``.

Part of ``support.SUPPORT`` (see there); fields shared with the other endpoints reuse their
entries.
"""

from __future__ import annotations

from typing import Any

from vllm_deploy.engines.protocol.support import Support

__all__ = ["responses_support"]

_LOGPROBS = ["message.output_text.logprobs"]
_ECHOED = "echoed in the response, as vLLM does"


def responses_support(
    sampling: dict[str, Support], chat: dict[str, Support], tool: dict[str, Any], sim_logprobs: str
) -> dict[str, Support]:
    return {
        "background": Support(
            "refused-as-vllm", True, "needs the response store (off, as in vLLM by default)"
        ),
        "include": Support(
            "implemented", _LOGPROBS, "`message.output_text.logprobs`: logprobs on the output text"
        ),
        "input": Support(
            "implemented",
            [{"role": "user", "content": [{"type": "input_text", "text": "Hello"}]}],
            "a string or message items (text content); other item kinds are refused",
        ),
        "instructions": Support("implemented", "Be brief.", "a system message before the input"),
        "max_output_tokens": Support("implemented", 3, "reduced to fit the context, as vLLM does"),
        "max_tool_calls": Support(
            "no-op", 2, "no built-in tools run, as vLLM without a tool server"
        ),
        "metadata": Support("no-op", {"k": "v"}, _ECHOED),
        "model": sampling["model"],
        "logit_bias": sampling["logit_bias"],
        "parallel_tool_calls": Support("no-op", False, _ECHOED),
        "previous_response_id": Support(
            "refused-as-vllm", "resp_1", "404: nothing is stored (vLLM's default)"
        ),
        "prompt": Support(
            "refused-as-vllm", {"id": "pmpt_1"}, "vLLM does not support prompt templates"
        ),
        "reasoning": Support(
            "no-op", {"effort": "low"}, "a chat-template variable; no reasoning parser"
        ),
        "include_reasoning": Support("no-op", False, "no reasoning parser, as vLLM without one"),
        "service_tier": Support("no-op", "default", _ECHOED),
        "store": Support("no-op", False, "nothing is stored, as vLLM by default"),
        "stream": Support("implemented", True, "the Responses API's server-sent events"),
        "temperature": sampling["temperature"],
        "text": Support(
            "not-implemented",
            {"format": {"type": "json_object"}},
            '`{"format": {"type": "text"}}` is accepted; structured output is not implemented here',
        ),
        "tool_choice": Support(
            "no-op",
            "none",
            "no tool parser, as vLLM without one",
            context={"tools": [tool]},
        ),
        "tools": Support(
            "implemented",
            [tool],
            "function tools go to the chat template; no tool calls are parsed (no tool parser)",
        ),
        "top_logprobs": Support(
            "implemented", 2, context={"include": _LOGPROBS}, simulated=sim_logprobs
        ),
        "top_p": sampling["top_p"],
        "top_k": sampling["top_k"],
        "min_p": sampling["min_p"],
        "truncation": Support(
            "implemented", "auto", "`auto` keeps the last max_model_len - 1 prompt tokens"
        ),
        "user": Support("no-op", "user-1", _ECHOED),
        "skip_special_tokens": sampling["skip_special_tokens"],
        "spaces_between_special_tokens": sampling["spaces_between_special_tokens"],
        "include_stop_str_in_output": sampling["include_stop_str_in_output"],
        "presence_penalty": sampling["presence_penalty"],
        "frequency_penalty": sampling["frequency_penalty"],
        "prompt_cache_key": Support("no-op", "k1", "vLLM ignores it too"),
        "prompt_cache_options": Support("no-op", {}, _ECHOED),
        "prompt_cache_retention": Support("no-op", "24h", _ECHOED),
        "safety_identifier": Support("no-op", "s-1", _ECHOED),
        "watermarking": sampling["watermarking"],
        "request_id": Support("implemented", "resp_42", "the response's id"),
        "session_id": sampling["session_id"],
        "media_io_kwargs": chat["media_io_kwargs"],
        "mm_processor_kwargs": chat["mm_processor_kwargs"],
        "priority": sampling["priority"],
        "mm_payload": sampling["mm_payload"],
        "return_mm_kwargs": sampling["return_mm_kwargs"],
        "cache_salt": sampling["cache_salt"],
        "enable_response_messages": Support(
            "no-op", True, "messages are returned for gpt-oss (Harmony) models only"
        ),
        "previous_input_messages": Support(
            "no-op", [{"role": "user", "content": "Hi"}], "read for gpt-oss (Harmony) models only"
        ),
        "structured_outputs": sampling["structured_outputs"],
        "repetition_penalty": sampling["repetition_penalty"],
        "seed": sampling["seed"],
        "stop": sampling["stop"],
        "stop_token_ids": sampling["stop_token_ids"],
        "ignore_eos": sampling["ignore_eos"],
        "vllm_xargs": sampling["vllm_xargs"],
        "kv_transfer_params": sampling["kv_transfer_params"],
        "ec_transfer_params": sampling["ec_transfer_params"],
        "chat_template_kwargs": chat["chat_template_kwargs"],
    }
