"""A deterministic word-level tokenizer for the simulator: honest counts, no model files."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

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


EOS_TOKEN = "</s>"
# Chat-template markers, as transformers words its refusal (tokenization_utils_base.py).
_BOTH_PROMPTS = (
    "continue_final_message and add_generation_prompt are not compatible. Use "
    "continue_final_message when you want the model to continue the final message, and "
    "add_generation_prompt when you want to add a header that will prompt it to start a new "
    "assistant message instead."
)


class WordTokenizer:
    """Words and punctuation marks are tokens.

    Ids 0-67 are the output words (``_WORDS``), 68 is EOS (``</s>``, a special token), and any
    other piece gets an id from a CRC of its text (69 and up). Decoding is exact for the words
    and lossy for the rest (an id past the words decodes to the word ``id % 68``).
    """

    vocab_size = 32000
    eos_token_id = len(_WORDS)
    additive_decode = True
    _first_hashed = len(_WORDS) + 1
    _index = {w: i for i, w in enumerate(_WORDS)}

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids: list[int] = []
        for n, chunk in enumerate(text.split(EOS_TOKEN)):
            if n:
                ids.append(self.eos_token_id)
            ids += [self._piece_id(p) for p in _PIECE.findall(chunk)]
        return ids

    def _piece_id(self, piece: str) -> int:
        if (index := self._index.get(piece)) is not None:
            return index
        return self._first_hashed + zlib.crc32(piece.encode()) % (
            self.vocab_size - self._first_hashed
        )

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        eos, vocab = self.eos_token_id, self.vocab_size
        return "".join(
            ("" if skip_special_tokens else EOS_TOKEN)
            if i == eos
            else " " + _WORDS[i % eos]
            if 0 <= i < vocab
            else ""
            for i in ids
        )

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        eos = self.eos_token_id
        return [EOS_TOKEN if i == eos else _WORDS[i % eos] for i in ids]

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        """ChatML-like: ``<|role|>`` lines; the last message stays open to be continued."""
        add_generation_prompt = bool(kwargs.get("add_generation_prompt"))
        continue_final = bool(kwargs.get("continue_final_message"))
        if not messages:
            raise ValueError(
                "Cannot apply chat template to an empty conversation. Provide at least one message."
            )
        if add_generation_prompt and continue_final:
            raise ValueError(_BOTH_PROMPTS)
        parts = [f"<|{m['role']}|>\n{m.get('content') or ''}" for m in messages]
        text = "\n".join(parts) + ("" if continue_final else "\n")
        return text + ("<|assistant|>\n" if add_generation_prompt else "")

    @staticmethod
    def word_count() -> int:
        return len(_WORDS)
