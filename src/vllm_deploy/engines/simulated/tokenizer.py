"""A deterministic word-level tokenizer for the simulator: honest counts, no model files."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

__all__ = ["WordTokenizer"]

_PIECE = re.compile(r"\w+|[^\w\s]")
# The words simulated output is made of; id i decodes to " " + _WORDS[i % len(_WORDS)].
_WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "at",
    "by",
    "this",
    "be",
    "from",
    "or",
    "are",
    "an",
    "not",
    "have",
    "model",
    "token",
    "request",
    "server",
    "pod",
    "replica",
    "latency",
    "stream",
    "batch",
    "queue",
    "cache",
    "engine",
    "metric",
    "prompt",
    "output",
    "deploy",
    "scale",
    "drain",
    "ready",
    "live",
    "health",
    "alert",
    "runbook",
    "trace",
    "log",
    "span",
    "node",
    "fast",
    "slow",
    "small",
    "large",
    "first",
    "next",
    "last",
    "many",
    "few",
    "every",
    "each",
    "some",
    "one",
    "two",
    "three",
    "four",
    "five",
]


class WordTokenizer:
    """Words and punctuation marks are tokens; ids come from a CRC of the piece."""

    vocab_size = 32000

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [zlib.crc32(p.encode()) % self.vocab_size for p in _PIECE.findall(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(" " + _WORDS[i % len(_WORDS)] for i in ids)

    def apply_chat_template(
        self, messages: list[dict[str, str]], add_generation_prompt: bool
    ) -> str:
        text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")

    @staticmethod
    def word_count() -> int:
        return len(_WORDS)
