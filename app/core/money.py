"""Money and percentages: `Decimal` everywhere, rounded to cents half-up in one place."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# The largest value a NUMERIC(14, 2) column holds.
MAX_AMOUNT = Decimal("999999999999.99")


def to_cents(value: Decimal) -> Decimal:
    """Round to cents, half up: 0.005 -> 0.01, 2.675 -> 2.68."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _round_and_bound(value: Decimal) -> Decimal:
    rounded = to_cents(value)
    if rounded > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    return rounded


def _as_json_number(value: Decimal) -> float:
    return float(value)


_json_number = PlainSerializer(_as_json_number, return_type=float, when_used="json")

# A non-negative amount of money, refused when NaN, infinite or past NUMERIC(14, 2).
Money = Annotated[
    Decimal,
    Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False),
    AfterValidator(_round_and_bound),
    _json_number,
]


def _positive_after_rounding(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be at least 0.01 once rounded to cents")
    return value


PositiveMoney = Annotated[
    Decimal,
    Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False),
    AfterValidator(_round_and_bound),
    AfterValidator(_positive_after_rounding),
    _json_number,
]

Percentage = Annotated[
    Decimal,
    Field(gt=0, le=100, allow_inf_nan=False),
    AfterValidator(to_cents),
    AfterValidator(_positive_after_rounding),
    _json_number,
]
# Money as it goes out in a response: a JSON number with cents.
MoneyOut = Annotated[Decimal, _json_number]
