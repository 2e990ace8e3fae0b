"""Sampling from logits: greedy at temperature 0, else temperature, top-k and top-p."""

from __future__ import annotations

from typing import Any

from vllm_deploy.engines.base import SamplingParams

__all__ = ["sample_next"]


def sample_next(torch: Any, logits: Any, params: SamplingParams, generator: Any) -> int:
    """One token id from a 1-D logits tensor; reproducible for a seeded ``generator``."""
    if params.temperature == 0.0:
        return int(torch.argmax(logits).item())
    logits = logits / params.temperature
    if 0 < params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (always at least one token).
        drop = cumulative - sorted_probs >= params.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator).item())
