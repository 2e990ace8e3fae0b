"""vLLM's sampler in plain Python, over a sparse set of candidate logits.

For engines whose "model" gives logits to few tokens (the simulated engine's words); any id
not in the mapping has logit -inf. The steps and their order are vLLM 0.33.0's
(vllm/v1/sample/sampler.py ``Sampler``): logprobs from the raw logits; allowed ids; bad
words; min-tokens; logit bias; penalties (model_executor/layers/utils.py
``apply_penalties``); then greedy, or temperature, min-p, top-k, top-p and a draw. The
reference engine does the same with torch over its whole vocabulary
(``reference/sampling.py``); a test holds the two to the same distribution.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

from vllm_deploy.engines.base import SamplingParams, TokenLogprobs

__all__ = [
    "GREEDY_EPS",
    "banned_by_bad_words",
    "distribution",
    "process",
    "raw_logprobs",
    "sample",
    "top_logprobs",
]

GREEDY_EPS = 1e-5  # vLLM's _SAMPLING_EPS: below it, temperature means greedy
Logits = dict[int, float]


def banned_by_bad_words(bad_words: Sequence[Sequence[int]], output: Sequence[int]) -> set[int]:
    """vLLM's bad-words processor: a word's last token is banned after the rest of it."""
    banned = set()
    for word in bad_words:
        prefix = word[:-1]
        if not prefix or tuple(output[-len(prefix) :]) == tuple(prefix):
            banned.add(word[-1])
    return banned


def process(
    logits: Logits, params: SamplingParams, prompt: Sequence[int], output: Sequence[int]
) -> Logits:
    """The logits after every processor that is not argmax-invariant."""
    out = dict(logits)
    if params.allowed_token_ids is not None:
        out = {t: v for t, v in out.items() if t in params.allowed_token_ids}
    if params.bad_words:
        for t in banned_by_bad_words(params.bad_words, output):
            out.pop(t, None)
    if len(output) < params.min_tokens:
        for t in params.min_tokens_mask:
            out.pop(t, None)
    for t, bias in params.logit_bias.items():
        if t in out:
            out[t] += bias
    if params.repetition_penalty != 1.0:
        seen = set(prompt) | set(output)
        p = params.repetition_penalty
        for t in seen & out.keys():
            out[t] = out[t] / p if out[t] > 0 else out[t] * p
    if params.frequency_penalty or params.presence_penalty:
        for t, count in Counter(output).items():
            if t in out:
                out[t] -= params.frequency_penalty * count + params.presence_penalty
    return out


def raw_logprobs(logits: Logits) -> Logits:
    """Log-softmax over the candidates (vLLM's default ``--logprobs-mode raw_logprobs``)."""
    top = max(logits.values())
    norm = top + math.log(sum(math.exp(v - top) for v in logits.values()))
    return {t: v - norm for t, v in logits.items()}


def distribution(logits: Logits, params: SamplingParams) -> list[tuple[int, float]]:
    """Temperature, min-p, top-k and top-p, as vLLM applies them: the probabilities a token
    is drawn from, most likely first."""
    scaled = {t: v / params.temperature for t, v in logits.items()}
    top = max(scaled.values())
    weights = {t: math.exp(v - top) for t, v in scaled.items()}
    total = sum(weights.values())
    ranked = sorted(((t, w / total) for t, w in weights.items()), key=lambda x: (-x[1], x[0]))
    if params.min_p > 0:
        threshold = ranked[0][1] * params.min_p
        ranked = [(t, p) for t, p in ranked if p >= threshold]
    if 0 < params.top_k < len(ranked):
        ranked = ranked[: params.top_k]
    if params.top_p < 1.0:
        mass = sum(p for _, p in ranked)
        kept, cumulative = [], 0.0
        for t, p in ranked:
            kept.append((t, p))
            cumulative += p / mass
            if cumulative >= params.top_p:
                break
        ranked = kept
    mass = sum(p for _, p in ranked)
    return [(t, p / mass) for t, p in ranked]


def sample(logits: Logits, params: SamplingParams, rng: random.Random) -> int:
    """One token from processed logits: argmax at temperature 0, else a seeded draw."""
    if params.temperature < GREEDY_EPS:
        return min(logits, key=lambda t: (-logits[t], t))
    ranked = distribution(logits, params)
    point = rng.random()
    for t, p in ranked:
        point -= p
        if point < 0:
            return t
    return ranked[-1][0]


def top_logprobs(
    raw: Logits, token: int, k: int | None, ids: Sequence[int] | None
) -> TokenLogprobs:
    """The sampled token first, then the asked-for ids or the top ``k`` (vLLM's order)."""
    floor = -math.inf
    out = {token: raw.get(token, floor)}
    if ids:
        for t in ids:
            out.setdefault(t, raw.get(t, floor))
        return out
    ordered = sorted(raw.items(), key=lambda x: (-x[1], x[0]))
    for t, v in ordered if k == -1 else ordered[: k or 0]:
        out.setdefault(t, v)
    return out
