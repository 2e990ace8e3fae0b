"""Quantities in milli-units, rounded up as ``Quantity.MilliValue`` does."""

from __future__ import annotations

import pytest

from vllm_deploy.autoscale.quantity import QuantityError, milli, milli_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4", 4000), ("500m", 500), ("1.5", 1500), ("0.0001", 1), ("2k", 2_000_000),
     ("1Ki", 1_024_000), ("1e3", 1_000_000), (3, 3000), (0.25, 250)],
)  # fmt: skip
def test_milli(text: str | int | float, expected: int) -> None:
    assert milli(text) == expected


def test_float_noise_does_not_round_up_a_whole_milli() -> None:
    assert milli_of(0.3) == 300 and milli_of(0.3001) == 301


@pytest.mark.parametrize("bad", ["four", "1.2.3", "5 m", "", "1Qi"])
def test_not_a_quantity(bad: str) -> None:
    with pytest.raises(QuantityError, match="not a quantity"):
        milli(bad)
