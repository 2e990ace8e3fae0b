from __future__ import annotations

from collections.abc import Sequence

import pytest

from vllm_deploy.engines.detokenizer import IncrementalDetokenizer


class ByteTokenizer:
    """Token i is byte i: multi-byte UTF-8 characters span several tokens."""

    vocab_size = 256

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(text.encode())

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(ids).decode(errors="replace")

    def apply_chat_template(
        self, messages: list[dict[str, str]], add_generation_prompt: bool
    ) -> str:
        return ""


def _run(text: str, stop: list[str]) -> tuple[list[str], str, bool]:
    d = IncrementalDetokenizer(ByteTokenizer(), stop)
    deltas = []
    for b in text.encode():
        deltas.append(d.push(b))
        if d.stopped:
            break
    deltas.append(d.flush())
    return [x for x in deltas if x], d.text, d.stopped


def test_multibyte_characters_are_never_split() -> None:
    deltas, text, _ = _run("héllo → wörld", [])
    assert text == "héllo → wörld"
    assert all("\ufffd" not in d for d in deltas)


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [("hello world", ["o w"], "hell"), ("abcdef", ["zz", "cd", "b"], "a"), ("abc", ["abcd"], "abc"),
     ("x→y", ["→"], "x")],
)  # fmt: skip
def test_stop_strings_cut_at_the_earliest_match(text: str, stop: list[str], expected: str) -> None:
    deltas, out, stopped = _run(text, stop)
    assert out == expected == "".join(deltas)
    assert stopped == (expected != text)


def test_text_that_may_start_a_stop_string_is_held_back() -> None:
    d = IncrementalDetokenizer(ByteTokenizer(), ["xyz"])
    assert [d.push(b) for b in b"abxy"] == ["", "", "a", "b"]
    assert d.flush() == "xy"
