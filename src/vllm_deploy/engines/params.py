"""A request's sampling parameters, checked as vLLM 0.33.0 checks them, with its messages.

The checks that need the model's vocabulary, which vLLM's engine runs, are in
``engines/model_checks.py``.

Ported, in vLLM's order: ``to_sampling_params`` (completion/protocol.py, chat_completion/
protocol.py), ``SamplingParams.from_optional`` / ``__post_init__`` / ``_verify_args`` and
``verify`` (sampling_params.py), ``update_from_tokenizer`` (bad words), the input
processor's defaults (v1/engine/input_processor.py) and ``get_max_tokens``
(serve/utils/api_utils.py). Every refusal is a ``VllmValidationError``, answered with 400.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vllm_deploy.engines.base import SamplingParams, Tokenizer
from vllm_deploy.engines.errors import VllmValidationError
from vllm_deploy.engines.generation import StopRules
from vllm_deploy.engines.protocol.sampling import SamplingRequest

__all__ = [
    "Limits",
    "SequenceSpec",
    "build_sequence",
    "check_max_tokens",
    "logit_bias_ids",
    "max_tokens_for",
]

MAX_N_SEQUENCES = 16384  # VLLM_MAX_N_SEQUENCES' default
MAX_NUM_BAD_WORDS = 128  # VLLM_MAX_NUM_BAD_WORDS' default
_TEMPERATURE_FLOOR = 1e-2  # vLLM raises 0 < temperature < 0.01 to 0.01
_GREEDY_EPS = 1e-5


@dataclass(frozen=True)
class Limits:
    """What the server and model allow: context, vocabulary, logprobs, model defaults."""

    max_model_len: int
    vocab_size: int
    eos_token_id: int | None
    max_logprobs: int = 20
    extra_eos_ids: frozenset[int] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceSpec:
    """What one sequence of a request runs with."""

    params: SamplingParams
    rules: StopRules


def check_max_tokens(asked: int | None, param: str, limits: Limits) -> None:
    """vLLM's ``TokenizeParams`` check, before the prompt is tokenized."""
    if asked is not None and asked > limits.max_model_len:
        raise VllmValidationError(
            f"{param}={asked} cannot be greater than max_model_len={limits.max_model_len}. "
            "Please request fewer output tokens.",
            parameter=param,
            value=asked,
        )


def max_tokens_for(prompt_len: int, asked: int | None, limits: Limits) -> int:
    """vLLM's ``get_max_tokens``: the request's limit, the model default, the room left."""
    if limits.max_model_len < prompt_len:
        raise VllmValidationError(
            f"Input length ({prompt_len}) exceeds model's maximum context length "
            f"({limits.max_model_len})."
        )
    fallback = asked if asked is not None else limits.defaults.get("max_tokens")
    room = limits.max_model_len - prompt_len
    return room if fallback is None else min(room, int(fallback))


def _verify(n: int, s: dict[str, Any], max_tokens: int) -> None:
    """``SamplingParams._verify_args``, same order and messages."""
    if not isinstance(n, int):
        raise VllmValidationError(f"n must be an int, but is of type {type(n)}")
    if n < 1:
        raise VllmValidationError(f"n must be at least 1, got {n}.")
    if n > MAX_N_SEQUENCES:
        raise VllmValidationError(
            f"n must be at most {MAX_N_SEQUENCES}, got {n}. To increase this limit, set the "
            "VLLM_MAX_N_SEQUENCES environment variable."
        )
    for name in ("presence_penalty", "frequency_penalty"):
        if not -2.0 <= s[name] <= 2.0:
            raise VllmValidationError(f"{name} must be in [-2, 2], got {s[name]}.")
    rp = s["repetition_penalty"]
    if not math.isfinite(rp):
        raise VllmValidationError(f"repetition_penalty must be a finite number, got {rp}.")
    if rp <= 0.0:
        raise VllmValidationError(f"repetition_penalty must be greater than zero, got {rp}.")
    t = s["temperature"]
    for ok, text in (
        (math.isfinite(t), "a finite number"),
        (t >= 0.0, "non-negative"),
        (t <= 2.0, "in [0, 2]"),
    ):
        if not ok:
            raise VllmValidationError(
                f"temperature must be {text}, got {t}.", parameter="temperature", value=t
            )
    if not 0.0 < s["top_p"] <= 1.0:
        raise VllmValidationError(
            f"top_p must be in (0, 1], got {s['top_p']}.", parameter="top_p", value=s["top_p"]
        )
    if s["top_k"] < -1:
        raise VllmValidationError(f"top_k must be 0 (disable), or at least 1, got {s['top_k']}.")
    if not 0.0 <= s["min_p"] <= 1.0:
        raise VllmValidationError(f"min_p must be in [0, 1], got {s['min_p']}.")
    if max_tokens < 1:
        raise VllmValidationError(
            f"max_tokens must be at least 1, got {max_tokens}.",
            parameter="max_tokens",
            value=max_tokens,
        )


def logit_bias_ids(raw: Mapping[str, float] | None) -> dict[int, float]:
    if not raw:
        return {}
    bias, invalid = {}, []
    for key, value in raw.items():
        try:
            bias[int(key)] = min(100.0, max(-100.0, value))
        except (ValueError, TypeError):
            invalid.append(key)
    if invalid:
        raise VllmValidationError(
            f"logit_bias contains key(s) that cannot be converted to integer token IDs: "
            f"{invalid!r}",
            parameter="logit_bias",
            value=invalid,
        )
    return bias


def _bad_words(words: list[str], tokenizer: Tokenizer) -> tuple[tuple[int, ...], ...]:
    """``update_from_tokenizer``: each word, alone and after a space."""
    out: list[list[int]] = []
    for word in dict.fromkeys(words):
        for prefixed in (False, True):
            ids = tokenizer.encode(
                (" " if prefixed else "") + word.lstrip(), add_special_tokens=False
            )
            if not ids:
                if not prefixed:
                    raise VllmValidationError(
                        "bad_words entries must tokenize to at least one token.",
                        parameter="bad_words",
                        value=words,
                    )
                continue
            if not prefixed or (ids[0] != out[-1][0] and len(ids) == len(out[-1])):
                out.append(ids)
    if len(out) > MAX_NUM_BAD_WORDS:
        raise VllmValidationError(
            f"Too many bad words after tokenization: {len(out)}. The max number is "
            f"{MAX_NUM_BAD_WORDS}.",
            parameter="bad_words",
            value=words,
        )
    return tuple(tuple(ids) for ids in out)


def build_sequence(
    req: SamplingRequest,
    *,
    n: int,
    logprobs: int | None,
    max_tokens: int,
    explicit_max_tokens: bool,
    limits: Limits,
    tokenizer: Tokenizer,
) -> SequenceSpec:
    """The engine parameters and stop rules for one prompt of ``req`` (its choice 0)."""
    if req.logprob_token_ids:
        logprobs = None  # to_sampling_params: the explicit ids replace the top-k
    d = limits.defaults
    s: dict[str, Any] = {
        name: value if (value := getattr(req, name)) is not None else d.get(name, default)
        for name, default in (
            ("repetition_penalty", 1.0),
            ("presence_penalty", 0.0),
            ("frequency_penalty", 0.0),
            ("temperature", 1.0),
            ("top_p", 1.0),
            ("top_k", 0),
            ("min_p", 0.0),
        )
    }
    skip_special = req.skip_special_tokens
    if skip_special is None:
        skip_special = bool(d.get("skip_special_tokens", True))
    bias = logit_bias_ids(req.logit_bias)
    if 0 < s["temperature"] < _TEMPERATURE_FLOOR:
        s["temperature"] = _TEMPERATURE_FLOOR
    seed = None if req.seed == -1 else req.seed
    stop = tuple(dict.fromkeys(req.stop_strings()))
    stop_ids = list(dict.fromkeys(req.stop_token_ids or []))
    _verify(n, s, max_tokens)
    if req.min_tokens < 0:
        raise VllmValidationError(
            f"min_tokens must be greater than or equal to 0, got {req.min_tokens}."
        )
    if req.min_tokens > max_tokens:
        raise VllmValidationError(
            f"min_tokens must be less than or equal to max_tokens={max_tokens}, got "
            f"{req.min_tokens}."
        )
    if logprobs is not None and logprobs != -1 and logprobs < 0:
        raise VllmValidationError(
            f"logprobs must be non-negative or -1, got {logprobs}.",
            parameter="logprobs",
            value=logprobs,
        )
    if any(not s_ for s_ in stop):
        raise VllmValidationError("stop cannot contain an empty string.")
    if any(not w for w in req.bad_words):
        raise VllmValidationError(
            f"bad_words cannot contain an empty string. Got bad_words={req.bad_words}"
        )
    if s["temperature"] < _GREEDY_EPS:
        s.update(top_p=1.0, top_k=0, min_p=0.0)
        if n > 1:
            raise VllmValidationError(f"n must be 1 when using greedy sampling, got {n}.")
    eos = limits.eos_token_id
    ignore_eos = req.ignore_eos
    stops = frozenset(stop_ids) | (frozenset() if ignore_eos else limits.extra_eos_ids)
    mask = stops | limits.extra_eos_ids | ({eos} if eos is not None else set())
    params = SamplingParams(
        max_tokens=max_tokens,
        temperature=s["temperature"],
        top_p=s["top_p"],
        top_k=s["top_k"],
        min_p=s["min_p"],
        presence_penalty=s["presence_penalty"],
        frequency_penalty=s["frequency_penalty"],
        repetition_penalty=s["repetition_penalty"],
        seed=seed,
        min_tokens=req.min_tokens,
        ignore_eos=ignore_eos,
        logit_bias=bias,
        allowed_token_ids=frozenset(req.allowed_token_ids) if req.allowed_token_ids else None,
        bad_words=_bad_words(req.bad_words, tokenizer) if req.bad_words else (),
        min_tokens_mask=frozenset(mask),
        logprobs=logprobs,
        logprob_token_ids=tuple(req.logprob_token_ids) if req.logprob_token_ids else None,
        explicit_max_tokens=explicit_max_tokens,
    )
    rep = req.repetition_detection
    rules = StopRules(
        eos_token_id=None if ignore_eos else eos,
        stop_token_ids=stops,
        stop=stop,
        include_stop_str_in_output=req.include_stop_str_in_output,
        skip_special_tokens=skip_special,
        min_tokens=req.min_tokens,
        max_total_tokens=limits.max_model_len,
        repetition=(rep.min_pattern_size, rep.max_pattern_size, rep.min_count) if rep else None,
    )
    return SequenceSpec(params, rules)
