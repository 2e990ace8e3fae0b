"""Kubernetes resource quantities as the HPA reads them: milli-units, rounded up.

A port of what the HPA needs from ``k8s.io/apimachinery/pkg/api/resource`` (``Quantity``,
``MilliValue``): the decimal (``m``, ``k``, ``M`` ...) and binary (``Ki``, ``Mi`` ...) suffixes
and ``e`` exponents. ``MilliValue`` rounds up, so ``milli("0.0001")`` is 1.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["QuantityError", "milli", "milli_of"]

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity."""


def milli(value: str | int | float) -> int:
    """The quantity in milli-units, rounded up (``Quantity.MilliValue``): ``"4"`` is 4000."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return milli_of(float(value))
    match = _QUANTITY.match(value.strip())
    if not match:
        raise QuantityError(f"{value!r} is not a quantity (expected e.g. '4', '500m', '1.5Gi')")
    try:
        number = Decimal(match.group(1)) * _SUFFIXES[match.group(2) or ""]
    except InvalidOperation:
        raise QuantityError(f"{value!r} is not a quantity") from None
    return math.ceil(number * 1000)


def milli_of(value: float) -> int:
    """A measured value (a gauge, a rate) in milli-units, rounded up as the metrics APIs do."""
    # A float such as 0.3 * 1000 lands at 300.00000000000006: round that noise away first.
    return math.ceil(round(value * 1000.0, 6))
