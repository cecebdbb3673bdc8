"""Money and percentages: `Decimal` everywhere, exact on the way in, rounded half-up where computed.

What a caller sends is taken exactly as written or refused: an amount with more than
two decimals (99.995) is a 422 naming the field, never rounded to 100. Amounts the
service computes (a percentage of a cart) are rounded to cents half-up by `to_cents`.

A request amount is a JSON number (the body is parsed with `Decimal`, so 99.995 is
seen as written, not through a float: see `app.core.http.routing`) or a plain decimal
string ("10.50"). Booleans, exponents in strings, underscores, spaces, signs other
than a leading minus and non-ASCII digits are refused. The published JSON schema of
each type (`_schema`) says exactly this: a number with `multipleOf: 0.01` and bounds,
or a string with a pattern that holds the same bounds.
"""

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal("100")
# The largest value a NUMERIC(14, 2) column holds.
MAX_AMOUNT = Decimal("999999999999.99")

# What a money string may look like: ASCII digits, one optional point with digits after it, a leading minus.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)

# The same rule per type, bounds included, for the published schema: a fraction of at most two
# significant decimals (trailing zeros are exact: "10.500" is 10.50).
_CENTS = r"(\.[0-9]{1,2}0*)?"
_BELOW_ONE = r"0+\.(0[1-9]|[1-9][0-9]?)0*"  # 0.01 .. 0.99
MONEY_PATTERN = rf"^(-0+(\.0+)?|0*[0-9]{{1,12}}{_CENTS})$"
POSITIVE_MONEY_PATTERN = rf"^(0*[1-9][0-9]{{0,11}}{_CENTS}|{_BELOW_ONE})$"
PERCENTAGE_PATTERN = rf"^(0*[1-9][0-9]?{_CENTS}|0*100(\.0+)?|{_BELOW_ONE})$"


def to_cents(value: Decimal) -> Decimal:
    """Round to cents, half up: 0.005 -> 0.01, 2.675 -> 2.68."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def exact_decimal(value: Any) -> Decimal:
    """The finite Decimal a JSON number or a plain decimal string stands for, or a validation error."""
    if isinstance(value, bool):
        raise PydanticCustomError("decimal_type", "Input should be a number or a decimal string, not a boolean")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # Only Python callers hand in floats (HTTP bodies are parsed to Decimal): read the float as printed.
        number = Decimal(repr(value))
    elif isinstance(value, str):
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise PydanticCustomError(
                "decimal_parsing",
                "Input should be a plain decimal such as 10.50: ASCII digits, at most one point, "
                "an optional leading minus; no spaces, exponents or underscores",
            )
        number = Decimal(value)
    else:
        raise PydanticCustomError("decimal_type", "Input should be a number or a decimal string")
    if not number.is_finite():
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    return number


def _in_cents(number: Decimal) -> Decimal:
    """`number` as an amount in cents; more than two decimals is refused.

    Called after the bounds are checked: within them, `quantize` always fits the context."""
    cents = number.quantize(CENT)
    if cents != number:
        raise PydanticCustomError(
            "decimal_max_places",
            "Input should have at most 2 decimal places: {value} would have to be rounded",
            {"value": str(number)},
        )
    # -0 and -0.00 are zero: stored and echoed as 0.
    return ZERO if cents == 0 else cents


def _amount(*, above_zero: bool, maximum: Decimal) -> PlainValidator:
    def validate(value: Any) -> Decimal:
        number = exact_decimal(value)
        if above_zero and number <= 0:
            raise PydanticCustomError("greater_than", "Input should be greater than 0")
        if not above_zero and number < 0:
            raise PydanticCustomError("greater_than_equal", "Input should be greater than or equal to 0")
        if number > maximum:
            raise PydanticCustomError(
                "less_than_equal", "Input should be less than or equal to {le}", {"le": str(maximum)}
            )
        return _in_cents(number)

    return PlainValidator(validate, json_schema_input_type=Decimal)


def _schema(*, above_zero: bool, maximum: Decimal, pattern: str, description: str) -> WithJsonSchema:
    number: dict[str, Any] = {"type": "number", "maximum": float(maximum), "multipleOf": 0.01}
    number["exclusiveMinimum" if above_zero else "minimum"] = 0
    string = {"type": "string", "pattern": pattern}
    return WithJsonSchema({"anyOf": [number, string], "description": description})


def _as_json_number(value: Decimal) -> float:
    return float(value)


_json_number = PlainSerializer(_as_json_number, return_type=float, when_used="json")

_AMOUNT_RULE = "a JSON number or a plain decimal string, with at most two decimals (never rounded)"

# A non-negative amount of money within NUMERIC(14, 2).
Money = Annotated[
    Decimal,
    _amount(above_zero=False, maximum=MAX_AMOUNT),
    _schema(
        above_zero=False,
        maximum=MAX_AMOUNT,
        pattern=MONEY_PATTERN,
        description=f"An amount, 0 to {MAX_AMOUNT}: {_AMOUNT_RULE}.",
    ),
    _json_number,
]

# An amount of at least one cent.
PositiveMoney = Annotated[
    Decimal,
    _amount(above_zero=True, maximum=MAX_AMOUNT),
    _schema(
        above_zero=True,
        maximum=MAX_AMOUNT,
        pattern=POSITIVE_MONEY_PATTERN,
        description=f"An amount, 0.01 to {MAX_AMOUNT}: {_AMOUNT_RULE}.",
    ),
    _json_number,
]

# A percentage above 0 and at most 100, in hundredths of a percent.
Percentage = Annotated[
    Decimal,
    _amount(above_zero=True, maximum=HUNDRED),
    _schema(
        above_zero=True,
        maximum=HUNDRED,
        pattern=PERCENTAGE_PATTERN,
        description=f"A percentage, 0.01 to 100: {_AMOUNT_RULE}.",
    ),
    _json_number,
]

# Money as it goes out in a response: a JSON number with cents.
MoneyOut = Annotated[Decimal, _json_number]
