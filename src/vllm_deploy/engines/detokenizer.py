"""Incremental detokenization with stop strings, as vLLM 0.33.0's (vllm/v1/engine/detokenizer.py).

- a sequence ended by a stop token (EOS or ``stop_token_ids``) leaves that token's text out,
  unless ``include_stop_str_in_output``;
- stop strings are looked for in the new text once ``min_tokens`` tokens exist; the text is
  cut before the first one that completes (after it with ``include_stop_str_in_output``);
- while streaming, the last ``len(longest stop string) - 1`` characters are held back, since
  they may still become a stop string; a finished sequence releases everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from vllm_deploy.engines.base import Tokenizer

__all__ = ["IncrementalDetokenizer"]

_REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    """Usage: ``stop = d.update(token_id, stop_terminated)``; ``d.next_text(finished)``.

    Decoding uses a sliding window (as vLLM's slow-tokenizer path does) so each token costs
    O(1) decodes, and an incomplete UTF-8 sequence (decoded as U+FFFD) waits for the next
    token.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        stop: Sequence[str] = (),
        *,
        include_stop_str_in_output: bool = False,
        skip_special_tokens: bool = True,
        min_tokens: int = 0,
    ) -> None:
        self._tokenizer = tokenizer
        self._stop = [s for s in stop if s]
        self._include = include_stop_str_in_output
        self._skip_special = skip_special_tokens
        self._min_tokens = min_tokens
        self._buffer = (
            max(len(s) for s in self._stop) - 1 if self._stop and not self._include else 0
        )
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self._released = 0
        self.num_tokens = 0
        self.output_text = ""

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip_special)

    def _decode_next(self, token_id: int) -> str:
        if self._tokenizer.additive_decode:
            return self._decode((token_id,))
        self._ids.append(token_id)
        prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
        full = self._decode(self._ids[self._prefix_offset :])
        if len(full) > len(prefix) and not full.endswith(_REPLACEMENT):
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
            return full[len(prefix) :]
        return ""

    def update(self, token_id: int, stop_terminated: bool = False) -> str | None:
        """Adds one token; returns the stop string it completed, if any."""
        before = len(self.output_text)
        self.num_tokens += 1
        if not stop_terminated or self._include:
            self.output_text += self._decode_next(token_id)
        if not self._stop or self.num_tokens <= self._min_tokens:
            return None
        return self._check_stop(len(self.output_text) - before)

    def flush(self) -> None:
        """At the end: text of a trailing incomplete UTF-8 sequence, as decoded."""
        if self._read_offset < len(self._ids):
            prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
            self.output_text += self._decode(self._ids[self._prefix_offset :])[len(prefix) :]
            self._read_offset = len(self._ids)

    def _check_stop(self, new_chars: int) -> str | None:
        """vLLM's ``check_stop_strings``: the stop string that completes first wins."""
        if not new_chars:
            return None
        text = self.output_text
        best: tuple[int, int, str] | None = None  # (end, start, stop)
        for stop in self._stop:
            start = text.find(stop, max(0, len(text) - new_chars - len(stop) + 1))
            if start != -1 and (best is None or start + len(stop) < best[0]):
                best = (start + len(stop), start, stop)
        if best is None:
            return None
        end, start, stop = best
        self.output_text = text[:end] if self._include else text[:start]
        return stop

    def next_text(self, finished: bool) -> str:
        """The text not yet released; holds back what may become a stop string."""
        limit = len(self.output_text) - (0 if finished else self._buffer)
        if limit <= self._released:
            return ""
        out = self.output_text[self._released : limit]
        self._released = limit
        return out
