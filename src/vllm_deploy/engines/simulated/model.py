"""The simulator's stand-in for a model: a deterministic distribution over its 68 words.

At every position the word logits are a fixed Zipf-like curve, rotated by a hash of the
context (the prompt, the output length and the last token), so greedy decoding depends on
the context only, sampling on the seed too, and log-probabilities are well-formed and
repeatable. It is not a language model: its text means nothing. Sampling goes through
``vllm_deploy.engines.sampler``, vLLM's steps; plain sampling takes a shortcut that draws the
same token from a precomputed table.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import zlib
from collections.abc import Sequence

from vllm_deploy.engines import sampler
from vllm_deploy.engines.base import PromptLogprob, SamplingParams, TokenLogprobs
from vllm_deploy.engines.simulated.tokenizer import WordTokenizer

__all__ = ["WordModel"]

_WORDS = WordTokenizer.word_count()
EOS = WordTokenizer.eos_token_id
# Logit of the word at each rank, and the distribution they give.
_RANK_LOGITS = [-1.5 * math.log(rank + 1) for rank in range(_WORDS)]
_RANK_LOGPROBS = list(sampler.raw_logprobs(dict(enumerate(_RANK_LOGITS))).values())
_CUMULATIVE = list(itertools.accumulate(math.exp(v) for v in _RANK_LOGPROBS))
_FLOOR = _RANK_LOGITS[-1] - 10.0  # ids a request names that are not words
_EOS_LOGIT = 20.0  # once the simulator decides to stop, EOS dominates


def prompt_hash(prompt: Sequence[int]) -> int:
    return zlib.crc32(bytes(str(list(prompt[-64:])), "ascii"))


def _rotation(context: int, output: Sequence[int]) -> int:
    last = output[-1] if output else 0
    return (context + 7919 * len(output) + 31 * last) % _WORDS


class WordModel:
    """Logits and samples for one sequence. Usage: ``token, lp = m.step(params, output, ...)``."""

    def __init__(self, prompt: Sequence[int], params: SamplingParams, rng: random.Random) -> None:
        self._prompt = prompt
        self._context = prompt_hash(prompt)
        self._params = params
        self._rng = rng
        self._extra = (params.allowed_token_ids or frozenset()) | params.logit_bias.keys()
        self._wants_logprobs = params.logprobs is not None or bool(params.logprob_token_ids)

    def logits(self, output: Sequence[int], eos_due: bool) -> dict[int, float]:
        r = _rotation(self._context, output)
        out = {(rank + r) % _WORDS: logit for rank, logit in enumerate(_RANK_LOGITS)}
        for t in self._extra:
            out.setdefault(t, _FLOOR)
        if eos_due:
            out[EOS] = _EOS_LOGIT
        return out

    def step(self, output: Sequence[int], eos_due: bool) -> tuple[int, TokenLogprobs | None]:
        params = self._params
        if params.neutral and not eos_due and not self._extra:
            return self._fast_step(output)
        raw = self.logits(output, eos_due)
        processed = sampler.process(raw, params, self._prompt, output)
        if not processed:  # every candidate masked: the simulator can only stop
            processed = {EOS: 0.0}
        if eos_due and EOS in processed:
            token = EOS
        else:
            token = sampler.sample(processed, params, self._rng)
        return token, self._logprobs(raw, token)

    def _fast_step(self, output: Sequence[int]) -> tuple[int, TokenLogprobs | None]:
        """Plain sampling: one draw against the precomputed ranks, no per-token dicts."""
        r = _rotation(self._context, output)
        rank = min(
            bisect.bisect_right(_CUMULATIVE, self._rng.random() * _CUMULATIVE[-1]), _WORDS - 1
        )
        token = (rank + r) % _WORDS
        if not self._wants_logprobs:
            return token, None
        return token, self._logprobs(self.logits(output, False), token)

    def _logprobs(self, raw: dict[int, float], token: int) -> TokenLogprobs | None:
        if not self._wants_logprobs:
            return None
        params = self._params
        return sampler.top_logprobs(
            sampler.raw_logprobs(raw), token, params.logprobs, params.logprob_token_ids
        )


def prompt_logprobs(prompt: Sequence[int], top_k: int) -> list[PromptLogprob | None]:
    """What the word model gives each prompt token, after the prompt before it."""
    out: list[PromptLogprob | None] = [None]
    for pos in range(1, len(prompt)):
        context = prompt_hash(prompt[:pos])
        r = _rotation(context, ())
        raw = {(rank + r) % _WORDS: logit for rank, logit in enumerate(_RANK_LOGITS)}
        raw.setdefault(prompt[pos], _FLOOR)
        logprobs = sampler.raw_logprobs(raw)
        rank = 1 + sum(v > logprobs[prompt[pos]] for v in logprobs.values())
        entry = sampler.top_logprobs(logprobs, prompt[pos], top_k, None)
        out.append(PromptLogprob(entry, rank))
    return out
