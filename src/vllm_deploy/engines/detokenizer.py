"""Incremental detokenization with stop strings, shared by every engine."""

from __future__ import annotations

from collections.abc import Sequence

from vllm_deploy.engines.base import Tokenizer

__all__ = ["IncrementalDetokenizer"]

_REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    """Turns token ids into text deltas, holding back text that may still become a stop string.

    Usage: ``delta = d.push(token_id)`` until ``d.stopped``; then ``d.flush()`` for the rest.
    Decoding uses a sliding window (as vLLM does) so each token costs O(1) decodes, and an
    incomplete UTF-8 sequence (decoded as U+FFFD) waits for the next token.
    """

    def __init__(self, tokenizer: Tokenizer, stop: Sequence[str] = ()) -> None:
        self._tokenizer = tokenizer
        self._stop = [s for s in stop if s]
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self._pending = ""  # decoded but not yet released text
        self.text = ""  # everything released so far
        self.stopped = False

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        prefix = self._tokenizer.decode(self._ids[self._prefix_offset : self._read_offset])
        full = self._tokenizer.decode(self._ids[self._prefix_offset :])
        if len(full) > len(prefix) and not full.endswith(_REPLACEMENT):
            self._pending += full[len(prefix) :]
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
        return self._release(final=False)

    def flush(self) -> str:
        """Releases the held-back text at the end of generation."""
        if self._read_offset < len(self._ids):  # a trailing incomplete UTF-8 sequence
            prefix = self._tokenizer.decode(self._ids[self._prefix_offset : self._read_offset])
            full = self._tokenizer.decode(self._ids[self._prefix_offset :])
            self._pending += full[len(prefix) :]
            self._read_offset = len(self._ids)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        if self.stopped:
            return ""
        hits = [at for stop in self._stop if (at := self._pending.find(stop)) != -1]
        if hits:
            self.stopped = True
            out, self._pending = self._pending[: min(hits)], ""
            self.text += out
            return out
        cut = len(self._pending) if final else max(0, len(self._pending) - self._hold)
        out, self._pending = self._pending[:cut], self._pending[cut:]
        self.text += out
        return out
