"""What every GPU-free engine provides to the shared OpenAI server."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.routing import BaseRoute

__all__ = ["Engine", "EngineError", "SamplingParams", "Tokenizer"]


class EngineError(RuntimeError):
    """The engine failed while producing a request's tokens (answered with 500)."""


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    seed: int | None = None
    ignore_eos: bool = False
    # False when max_tokens was filled in from the remaining context, not asked for.
    explicit_max_tokens: bool = True


class Tokenizer(Protocol):
    vocab_size: int

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def apply_chat_template(
        self, messages: list[dict[str, str]], add_generation_prompt: bool
    ) -> str: ...


class Engine(Protocol):
    """Produces token ids for a prompt; scheduling, detokenization and metrics are shared.

    ``generate`` yields one token id at a time and ends at EOS (not yielded) or after
    ``params.max_tokens`` tokens. Cancelling the iteration must release its resources at once.
    """

    @property
    def tokenizer(self) -> Tokenizer: ...

    def routes(self) -> list[BaseRoute]:
        """Engine-specific routes (e.g. the simulator's fault injection)."""
        ...

    async def load(self) -> None:
        """Make the engine ready (load weights, warm up); ``/health`` is 503 until it returns."""

    def generate(
        self, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncGenerator[int, None]: ...

    async def close(self) -> None: ...
