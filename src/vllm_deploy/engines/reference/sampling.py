"""vLLM's sampler with torch over the whole vocabulary (vllm/v1/sample/sampler.py's steps).

The same steps, in the same order, as ``vllm_deploy.engines.sampler`` (plain Python, sparse);
a test holds the two to the same distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vllm_deploy.engines.base import SamplingParams, TokenLogprobs
from vllm_deploy.engines.sampler import GREEDY_EPS, banned_by_bad_words

__all__ = ["Sampler"]


class Sampler:
    """One sequence's sampling state: its seeded generator and the prompt's token set.

    Usage: ``token, logprobs = sampler.step(logits, output_ids)``.
    """

    def __init__(
        self, torch: Any, params: SamplingParams, prompt: Sequence[int], seed: int
    ) -> None:
        self._torch = torch
        self._params = params
        self._generator = torch.Generator().manual_seed(seed)
        self._prompt = torch.tensor(sorted(set(prompt)), dtype=torch.long)
        self._wants_logprobs = params.logprobs is not None or bool(params.logprob_token_ids)
        # Whether any step changes the logits or the distribution (else: plain sampling).
        self._processes = not params.neutral or params.min_tokens > 0

    def step(self, logits: Any, output: Sequence[int]) -> tuple[int, TokenLogprobs | None]:
        torch, params = self._torch, self._params
        raw = torch.log_softmax(logits, dim=-1) if self._wants_logprobs else None
        if self._processes:
            logits = self.process(logits.clone(), output)
        if params.temperature < GREEDY_EPS:
            token = int(torch.argmax(logits).item())
        else:
            # vLLM's random_sample (v1/sample/ops/topk_topp_sampler.py): the argmax of
            # probs / Exp(1) noise draws from probs, without torch.multinomial.
            probs = self.distribution(logits)
            noise = torch.empty_like(probs).exponential_(generator=self._generator)
            token = int(torch.argmax(probs / noise).item())
        return token, None if raw is None else self._logprobs(raw, token)

    def process(self, logits: Any, output: Sequence[int]) -> Any:
        """The logits after every processor that is not argmax-invariant (in place)."""
        torch, params = self._torch, self._params
        inf = float("-inf")
        if params.allowed_token_ids is not None:
            mask = torch.full_like(logits, inf)
            mask[list(params.allowed_token_ids)] = 0.0
            logits = logits + mask
        if params.bad_words:
            banned = banned_by_bad_words(params.bad_words, output)
            if banned:
                logits[list(banned)] = inf
        if len(output) < params.min_tokens and params.min_tokens_mask:
            logits[list(params.min_tokens_mask)] = inf
        for token, bias in params.logit_bias.items():
            logits[token] += bias
        if params.repetition_penalty != 1.0:
            seen = torch.unique(
                torch.cat([self._prompt, torch.tensor(list(output), dtype=torch.long)])
            )
            values = logits[seen]
            p = params.repetition_penalty
            logits[seen] = torch.where(values > 0, values / p, values * p)
        if output and (params.frequency_penalty or params.presence_penalty):
            ids, counts = torch.unique(
                torch.tensor(list(output), dtype=torch.long), return_counts=True
            )
            logits[ids] -= (
                params.frequency_penalty * counts.to(logits.dtype) + params.presence_penalty
            )
        return logits

    def distribution(self, logits: Any) -> Any:
        """Temperature, min-p, top-k and top-p: the probabilities a token is drawn from."""
        torch, params = self._torch, self._params
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.min_p > 0:
            probs = torch.where(probs < probs.max() * params.min_p, 0.0, probs)
        if params.top_k <= 0 and params.top_p >= 1.0 and params.min_p <= 0:
            return probs
        order = torch.argsort(probs, descending=True, stable=True)
        ranked = probs[order]
        if 0 < params.top_k < ranked.shape[-1]:
            ranked[params.top_k :] = 0.0
        if params.top_p < 1.0:
            cumulative = torch.cumsum(ranked / ranked.sum(), dim=-1)
            # Keep the smallest prefix whose mass reaches top_p (always at least one token).
            ranked = torch.where(cumulative - ranked / ranked.sum() >= params.top_p, 0.0, ranked)
        probs = torch.zeros_like(probs).scatter(0, order, ranked)
        return probs / probs.sum()

    def _logprobs(self, raw: Any, token: int) -> TokenLogprobs:
        params = self._params
        out = {token: float(raw[token])}
        if params.logprob_token_ids:
            for t in params.logprob_token_ids:
                out.setdefault(t, float(raw[t]))
            return out
        k = raw.shape[-1] if params.logprobs == -1 else params.logprobs or 0
        if k:
            values, ids = self._torch.topk(raw, k)
            for t, v in zip(ids.tolist(), values.tolist(), strict=True):
                out.setdefault(t, v)
        return out
