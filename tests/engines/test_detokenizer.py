"""Incremental detokenization: UTF-8 boundaries, stop strings and hold-back, as vLLM does it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from vllm_deploy.engines.detokenizer import IncrementalDetokenizer

_EOS = 255


class ByteTokenizer:
    """Token i is byte i: multi-byte UTF-8 characters span several tokens. 255 is EOS."""

    vocab_size = 256
    eos_token_id = _EOS
    additive_decode = False

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(text.encode())

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        eos = b"" if skip_special_tokens else b"<eos>"
        return b"".join(eos if i == _EOS else bytes([i]) for i in ids).decode(errors="replace")

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return [self.decode([i]) for i in ids]

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return ""


def _run(text: str, stop: list[str], **kwargs: Any) -> tuple[list[str], str, str | None]:
    d = IncrementalDetokenizer(ByteTokenizer(), stop, **kwargs)
    deltas, hit = [], None
    for b in text.encode():
        hit = d.update(b)
        deltas.append(d.next_text(finished=hit is not None))
        if hit:
            break
    deltas.append(d.next_text(finished=True))
    return [x for x in deltas if x], d.output_text, hit


def test_multibyte_characters_are_never_split() -> None:
    deltas, text, _ = _run("héllo → wörld", [])
    assert text == "héllo → wörld" == "".join(deltas)
    assert all("\ufffd" not in d for d in deltas)


@pytest.mark.parametrize(
    ("text", "stop", "expected", "hit"),
    [("hello world", ["o w"], "hell", "o w"), ("abcdef", ["zz", "cd", "b"], "a", "b"),
     ("abc", ["abcd"], "abc", None), ("x→y", ["→"], "x", "→")],
)  # fmt: skip
def test_stop_strings_cut_at_the_earliest_match(
    text: str, stop: list[str], expected: str, hit: str | None
) -> None:
    deltas, out, stopped_by = _run(text, stop)
    assert out == expected == "".join(deltas)
    assert stopped_by == hit


def test_include_stop_str_in_output_keeps_the_stop_string() -> None:
    deltas, out, hit = _run("hello world", ["o w"], include_stop_str_in_output=True)
    assert out == "hello w" == "".join(deltas)
    assert hit == "o w"


def test_stop_strings_wait_for_min_tokens() -> None:
    _, out, hit = _run("abab", ["b"], min_tokens=2)
    assert (out, hit) == ("aba", "b")  # the first "b" is token 2: not yet looked for


def test_text_that_may_start_a_stop_string_is_held_back() -> None:
    d = IncrementalDetokenizer(ByteTokenizer(), ["xyz"])
    released = []
    for b in b"abxy":
        d.update(b)
        released.append(d.next_text(finished=False))
    assert released == ["", "", "a", "b"]
    assert d.next_text(finished=True) == "xy"


@pytest.mark.parametrize(("include", "skip", "text"), [
    (False, True, "ab"), (False, False, "ab"), (True, False, "ab<eos>"), (True, True, "ab"),
])  # fmt: skip
def test_a_stop_token_is_left_out_unless_included(include: bool, skip: bool, text: str) -> None:
    d = IncrementalDetokenizer(
        ByteTokenizer(), include_stop_str_in_output=include, skip_special_tokens=skip
    )
    for b in b"ab":
        d.update(b)
    d.update(_EOS, stop_terminated=True)
    assert d.next_text(finished=True) == text
    assert d.num_tokens == 3
