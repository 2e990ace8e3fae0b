"""Log-probabilities in the shapes of both APIs, as vLLM 0.33.0 writes them.

- /v1/completions (completion/serving.py ``_create_completion_logprobs``): parallel lists
  ``tokens``, ``token_logprobs``, ``top_logprobs`` (the first ``logprobs + 1`` entries: the
  sampled token and the top ``logprobs``), ``text_offset``.
- /v1/chat/completions (chat_completion/serving.py ``_create_chat_logprobs``): ``content``,
  one entry per token with ``token``, ``logprob``, ``bytes`` and ``top_logprobs`` (the first
  ``top_logprobs`` entries, the sampled token first).
- ``prompt_logprobs`` (vllm/logprobs.py ``Logprob``): per position ``{id: {logprob, rank,
  decoded_token}}``.
-inf becomes -9999.0 (what OpenAI sends); tokens are decoded one by one, special tokens
included, or written ``token_id:N`` with ``return_tokens_as_token_ids``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from vllm_deploy.engines.base import PromptLogprob, Tokenizer, TokenLogprobs

__all__ = ["TokenNamer", "chat_logprobs", "completion_logprobs", "prompt_logprobs_json"]

_FLOOR = -9999.0


class TokenNamer:
    """How a token id is written: decoded alone (cached), or ``token_id:N``."""

    def __init__(self, tokenizer: Tokenizer, as_ids: bool) -> None:
        self._tokenizer = tokenizer
        self._as_ids = as_ids
        self._cache: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        if self._as_ids:
            return f"token_id:{token_id}"
        text = self._cache.get(token_id)
        if text is None:
            text = self._tokenizer.decode([token_id], skip_special_tokens=False)
            self._cache[token_id] = text
        return text


def _clamp(value: float) -> float:
    return max(value, _FLOOR)


def completion_logprobs(
    token_ids: Sequence[int],
    steps: Sequence[TokenLogprobs | None],
    top: int | None,
    name: TokenNamer,
    offset: int = 0,
    return_all: bool = False,
) -> dict[str, Any]:
    """The completions shape for ``token_ids``; ``offset`` is the text offset of the first."""
    limit = None if return_all or top is None or top == -1 else max(top + 1, 0)
    tokens: list[str] = []
    token_logprobs: list[float | None] = []
    tops: list[dict[str, float] | None] = []
    offsets: list[int] = []
    for token_id, step in zip(token_ids, steps, strict=True):
        token = name(token_id)
        offsets.append(offset)
        offset += len(token)
        tokens.append(token)
        if step is None:
            token_logprobs.append(None)
            tops.append(None)
            continue
        token_logprobs.append(_clamp(step[token_id]))
        tops.append({name(t): _clamp(v) for t, v in itertools.islice(step.items(), limit)})
    return {
        "text_offset": offsets,
        "token_logprobs": token_logprobs,
        "tokens": tokens,
        "top_logprobs": tops,
    }


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {
        "token": token,
        "logprob": _clamp(logprob),
        "bytes": list(token.encode("utf-8", errors="replace")),
    }


def chat_logprobs(
    token_ids: Sequence[int],
    steps: Sequence[TokenLogprobs | None],
    top: int,
    name: TokenNamer,
    return_all: bool = False,
) -> dict[str, Any]:
    """The chat shape for ``token_ids``."""
    limit = None if return_all or top == -1 else top or 0
    content = []
    for token_id, step in zip(token_ids, steps, strict=True):
        token = name(token_id)
        if step is None or token_id not in step:
            content.append({**_entry(token, _FLOOR), "top_logprobs": []})
            continue
        content.append(
            {
                **_entry(token, step[token_id]),
                "top_logprobs": [
                    _entry(name(t), v) for t, v in itertools.islice(step.items(), limit)
                ],
            }
        )
    return {"content": content}


def prompt_logprobs_json(
    positions: Sequence[PromptLogprob | None], name: TokenNamer
) -> list[dict[str, dict[str, Any]] | None]:
    """vLLM's ``prompt_logprobs``: ranks from the distribution, the top-k ranked in order."""
    out: list[dict[str, dict[str, Any]] | None] = []
    for position in positions:
        if position is None:
            out.append(None)
            continue
        entries = list(position.logprobs.items())
        row = {
            str(entries[0][0]): {
                "logprob": _clamp(entries[0][1]),
                "rank": position.rank,
                "decoded_token": name(entries[0][0]),
            }
        }
        for rank, (token, value) in enumerate(entries[1:], start=1):
            row.setdefault(
                str(token), {"logprob": _clamp(value), "rank": rank, "decoded_token": name(token)}
            )
        out.append(row)
    return out
