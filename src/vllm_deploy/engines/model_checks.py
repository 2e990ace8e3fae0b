"""The checks vLLM 0.33.0's engine runs as it takes a request: against the model's vocabulary.

``SamplingParams.verify`` (sampling_params.py) and the thinking-budget gate of the input
processor (v1/engine/input_processor.py), with vLLM's messages. vLLM runs them lazily,
when the engine takes the request, so a streamed request that fails them gets its 200 and
then the error in the stream (v1/engine/async_llm.py ``generate``); see
``routes/common.py`` ``EngineStart``.
"""

from __future__ import annotations

from typing import Any

from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.params import Limits, logit_bias_ids
from vllm_deploy.engines.protocol.sampling import SamplingRequest

__all__ = ["MAX_LOGPROB_TOKEN_IDS", "verify_for_model"]

MAX_LOGPROB_TOKEN_IDS = 128


def _check_token_ids(name: str, ids: Any, vocab: int) -> None:
    bad = [t for t in ids if t < 0 or t >= vocab]
    if bad:
        raise VllmValidationError(
            f"token_id(s) {bad} in {name} contain out-of-vocab token ids. Vocabulary size: {vocab}",
            parameter=name,
            value=bad,
        )


def verify_for_model(req: SamplingRequest, logprobs: int | None, limits: Limits) -> None:
    """``SamplingParams.verify`` for the request's first choice."""
    if req.logprob_token_ids:
        logprobs = None
    bias = logit_bias_ids(req.logit_bias)
    stop_ids = list(dict.fromkeys(req.stop_token_ids or []))
    vocab = limits.vocab_size
    max_lp = vocab if limits.max_logprobs == -1 else limits.max_logprobs
    asked = vocab if logprobs == -1 else logprobs
    if asked and not req.logprob_token_ids and asked > max_lp:
        raise VllmValidationError(
            f"Requested sample logprobs of {asked}, which is greater than max allowed: {max_lp}",
            parameter="logprobs",
            value=asked,
        )
    if (ids := req.logprob_token_ids) is not None:
        if len(ids) > MAX_LOGPROB_TOKEN_IDS:
            raise VllmValidationError(
                f"Requested logprob_token_ids of length {len(ids)}, which is greater than max "
                f"allowed: {MAX_LOGPROB_TOKEN_IDS}",
                parameter="logprob_token_ids",
                value=len(ids),
            )
        _check_token_ids("logprob_token_ids", ids, vocab)
        if logprobs is not None and logprobs != len(ids):
            raise VllmValidationError(
                f"When both logprobs and logprob_token_ids are set, logprobs must equal "
                f"len(logprob_token_ids). Got logprobs={logprobs}, "
                f"len(logprob_token_ids)={len(ids)}.",
                parameter="logprob_token_ids",
                value=len(ids),
            )
    prompt_lp = vocab if req.prompt_logprobs == -1 else req.prompt_logprobs
    if prompt_lp and prompt_lp > max_lp:
        raise VllmValidationError(
            f"Requested prompt logprobs of {prompt_lp}, which is greater than max allowed: "
            f"{max_lp}",
            parameter="prompt_logprobs",
            value=prompt_lp,
        )
    _check_token_ids("logit_bias", bias, vocab)
    _check_token_ids("stop_token_ids", stop_ids, vocab)
    if (allowed := req.allowed_token_ids) is not None:
        if not allowed:
            raise VllmValidationError(
                "allowed_token_ids is not None and empty!",
                parameter="allowed_token_ids",
                value=allowed,
            )
        if bad := [t for t in allowed if t < 0 or t >= vocab]:
            raise VllmValidationError(
                "allowed_token_ids contains out-of-vocab token id!",
                parameter="allowed_token_ids",
                value=bad,
            )
    if req.thinking_token_budget is not None:
        raise VllmValidationError(
            "thinking_token_budget is set but reasoning_config is not configured. Please set "
            "--reasoning-parser and/or --reasoning-config to use thinking_token_budget."
        )
