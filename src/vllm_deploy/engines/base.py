"""What every GPU-free engine provides to the shared OpenAI server."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from starlette.routing import BaseRoute

__all__ = [
    "Engine",
    "EngineError",
    "PromptLogprob",
    "Sampled",
    "SamplingParams",
    "TokenLogprobs",
    "Tokenizer",
]

# Log-probabilities at one position: token id -> logprob, in vLLM's order: the sampled (or
# prompt) token first, then the top-k or the asked-for ids (vllm/v1/sample/sampler.py).
TokenLogprobs = dict[int, float]


class PromptLogprob(NamedTuple):
    """Log-probabilities at one prompt position and the rank of the prompt's token."""

    logprobs: TokenLogprobs
    rank: int


class EngineError(RuntimeError):
    """The engine failed while producing a request's tokens (answered with 500)."""


class Sampled(NamedTuple):
    """One generated token, with its log-probabilities when they were asked for."""

    token_id: int
    logprobs: TokenLogprobs | None = None


@dataclass(frozen=True)
class SamplingParams:
    """One sequence's sampling, as vLLM's ``SamplingParams`` after its checks.

    The engine applies, in vLLM's order (sampler.py): allowed ids, bad words, min-tokens
    (stop ids masked), logit bias, penalties; then greedy (temperature 0) or temperature,
    min-p, top-k, top-p and a draw from a generator seeded with ``seed``.
    """

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 or -1: off
    min_p: float = 0.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    min_tokens: int = 0
    ignore_eos: bool = False
    logit_bias: Mapping[int, float] = field(default_factory=dict)
    allowed_token_ids: frozenset[int] | None = None
    bad_words: tuple[tuple[int, ...], ...] = ()
    # vLLM's ``all_stop_token_ids``: EOS (even with ignore_eos) and stop_token_ids, which
    # cannot be sampled before min_tokens tokens.
    min_tokens_mask: frozenset[int] = frozenset()
    logprobs: int | None = None  # top-k to report; -1: the whole vocabulary
    logprob_token_ids: tuple[int, ...] | None = None
    # False when max_tokens was filled in from the remaining context, not asked for.
    explicit_max_tokens: bool = True

    @property
    def neutral(self) -> bool:
        """Plain sampling at temperature 1: no processor changes the model's distribution."""
        return (
            self.temperature == 1.0
            and self.top_p >= 1.0
            and self.top_k <= 0
            and self.min_p <= 0.0
            and not self.presence_penalty
            and not self.frequency_penalty
            and self.repetition_penalty == 1.0
            and not self.logit_bias
            and self.allowed_token_ids is None
            and not self.bad_words
        )


class Tokenizer(Protocol):
    vocab_size: int
    # True when decoding ids is decoding each id and joining the texts (no merges across
    # tokens), so incremental detokenization can skip its sliding window.
    additive_decode: bool

    @property
    def eos_token_id(self) -> int | None: ...

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str: ...

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """The tokenizer's pieces (``convert_ids_to_tokens``), as /tokenize reports them."""
        ...

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str: ...


class Engine(Protocol):
    """Produces tokens for a prompt; scheduling, detokenization, stops and metrics are shared.

    ``generate`` yields one ``Sampled`` per step and never stops by itself before
    ``params.max_tokens``, except the simulated engine, whose natural end is an EOS token;
    the caller decides when a sequence ends and closes the generator, which must release
    its resources at once.
    """

    # Further EOS ids of the model's generation config: stops unless ignore_eos.
    extra_eos_ids: frozenset[int]

    @property
    def tokenizer(self) -> Tokenizer: ...

    def routes(self) -> list[BaseRoute]:
        """Engine-specific routes (e.g. the simulator's fault injection)."""
        ...

    def default_sampling(self) -> dict[str, Any]:
        """The model's sampling defaults (vLLM's ``get_diff_sampling_param``)."""
        ...

    async def load(self) -> None:
        """Make the engine ready (load weights, warm up); ``/health`` is 503 until it returns."""

    def generate(
        self, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncGenerator[Sampled, None]: ...

    async def prompt_logprobs(
        self, prompt_ids: list[int], top_k: int
    ) -> list[PromptLogprob | None]:
        """Per prompt position: that token's logprob first, then the top-k, and its rank
        (1 = most likely); None for the first position."""
        ...

    async def close(self) -> None: ...
