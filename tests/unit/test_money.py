"""Money in and out: taken exactly as written or refused, never NaN, infinite, negative or past NUMERIC(14, 2);
what the service computes is rounded to cents half up."""

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from app.core.http.exact_json import loads_exact
from app.core.money import (
    MAX_AMOUNT,
    MONEY_PATTERN,
    PERCENTAGE_PATTERN,
    POSITIVE_MONEY_PATTERN,
    Money,
    MoneyOut,
    Percentage,
    PositiveMoney,
    to_cents,
)


class Amounts(BaseModel):
    money: Money = Decimal("0")
    positive: PositiveMoney = Decimal("1")
    percentage: Percentage = Decimal("1")


def error_of(field: str, value: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        Amounts.model_validate({field: value})
    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    return dict(error)


@pytest.mark.parametrize(
    ("given", "expected"), [("0.005", "0.01"), ("2.675", "2.68"), ("2.665", "2.67"), ("1", "1.00")]
)
def test_to_cents_rounds_half_up(given: str, expected: str) -> None:
    assert to_cents(Decimal(given)) == Decimal(expected)


@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        (Decimal("10.5"), "10.50"),
        (Decimal("10.50"), "10.50"),
        ("10.50", "10.50"),
        ("10.500", "10.50"),
        (Decimal("1E+2"), "100.00"),
        (100, "100.00"),
        ("007", "7.00"),
        (Decimal("999999999999.99"), "999999999999.99"),
    ],
)
def test_an_amount_exact_at_cents_is_taken_whatever_its_spelling(spelled: Any, expected: str) -> None:
    assert Amounts(money=spelled).money == Decimal(expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("money", Decimal("99.995")),
        ("money", "100.005"),
        ("money", Decimal("10.0000000000000000001")),
        ("money", Decimal("1E-30")),
        ("positive", Decimal("0.001")),
        ("percentage", Decimal("99.995")),
        ("percentage", Decimal("12.345")),
    ],
)
def test_more_than_two_decimals_is_refused_not_rounded(field: str, value: Any) -> None:
    error = error_of(field, value)
    assert error["type"] == "decimal_max_places"
    assert str(value) in error["msg"]


@pytest.mark.parametrize("zero", [Decimal("-0"), Decimal("-0.00"), "-0", "-0.0", -0.0])
def test_minus_zero_is_zero(zero: Any) -> None:
    amount = Amounts(money=zero).money
    assert amount == 0
    assert not amount.is_signed()
    assert Amounts(money=zero).model_dump_json().startswith('{"money":0.0,')


@pytest.mark.parametrize(
    "bad",
    [
        True,
        False,
        None,
        [],
        {},
        " 5 ",
        "5_000",
        "\u0661\u0662",
        "\uff11\uff12",
        "1e2",
        "+5",
        ".5",
        "5.",
        "0x10",
        "",
        "5 ",
        "NaN",
        "Infinity",
    ],
)
def test_only_a_number_or_a_plain_decimal_string_is_money(bad: Any) -> None:
    assert error_of("money", bad)["type"] in {"decimal_type", "decimal_parsing"}


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), float("inf")])
def test_money_is_finite(bad: Any) -> None:
    assert error_of("money", bad)["type"] == "finite_number"


@pytest.mark.parametrize("bad", ["-0.01", "1000000000000", Decimal("1E+400")])
def test_money_refuses_what_a_numeric_column_cannot_hold(bad: Any) -> None:
    assert error_of("money", bad)["type"] in {"greater_than_equal", "less_than_equal"}


@pytest.mark.parametrize("bad", ["0", "0.00", "-0", "-5"])
def test_a_positive_amount_is_at_least_a_cent(bad: str) -> None:
    assert error_of("positive", bad)["type"] == "greater_than"


@pytest.mark.parametrize("bad", ["0", "100.01", "101"])
def test_a_percentage_is_above_zero_and_at_most_100(bad: str) -> None:
    assert error_of("percentage", bad)["type"] in {"greater_than", "less_than_equal"}


def test_money_goes_out_as_a_json_number() -> None:
    class Out(BaseModel):
        amount: MoneyOut

    assert Out(amount=Decimal("100.50")).model_dump_json() == '{"amount":100.5}'


def test_json_numbers_are_parsed_as_the_decimal_they_spell() -> None:
    body = loads_exact(b'{"a": 99.995, "b": 10.0000000000000000001, "c": 1e2, "d": 7}')
    assert body == {"a": Decimal("99.995"), "b": Decimal("10.0000000000000000001"), "c": Decimal("1E+2"), "d": 7}
    assert isinstance(body["d"], int)


# The published schema must say exactly what the validator takes: a string matches the pattern
# if and only if it is accepted, and a number is accepted if and only if it fits the number schema.
_INTEGER_EDGES = ["0", "00", "1", "01", "99", "100", "0100", "101", "999999999999", "1000000000000"]
_FRACTION_EDGES = ["", ".0", ".00", ".000", ".5", ".50", ".500", ".05", ".050", ".005", ".01", ".10", ".99", ".995"]
# Every sign, integer edge and fraction edge combined, then random spellings.
_EDGE_SPELLINGS = [sign + whole + part for sign in ("", "-") for whole in _INTEGER_EDGES for part in _FRACTION_EDGES]
_decimal_like = st.tuples(
    st.sampled_from(["", "-"]),
    st.sampled_from(_INTEGER_EDGES) | st.from_regex(r"\A[0-9]{1,14}\Z"),
    st.sampled_from(_FRACTION_EDGES) | st.from_regex(r"\A\.[0-9]{1,4}\Z"),
).map("".join) | st.text(alphabet="-+.0123456789e ", max_size=8)
_PATTERNS = [("money", MONEY_PATTERN), ("positive", POSITIVE_MONEY_PATTERN), ("percentage", PERCENTAGE_PATTERN)]


def _accepted(field: str, value: Any) -> bool:
    try:
        Amounts.model_validate({field: value})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("field", "pattern"), _PATTERNS)
def test_the_string_pattern_says_exactly_which_edge_spellings_are_taken(field: str, pattern: str) -> None:
    differ = [spelled for spelled in _EDGE_SPELLINGS if bool(re.search(pattern, spelled)) != _accepted(field, spelled)]
    assert differ == []


@given(spelled=_decimal_like)
@pytest.mark.parametrize(("field", "pattern"), _PATTERNS)
def test_the_string_pattern_says_exactly_which_strings_are_taken(field: str, pattern: str, spelled: str) -> None:
    assert bool(re.search(pattern, spelled)) == _accepted(field, spelled)


@given(number=st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-5, max_value=2 * 10**12))
@pytest.mark.parametrize(
    ("field", "above_zero", "maximum"),
    [("money", False, MAX_AMOUNT), ("positive", True, MAX_AMOUNT), ("percentage", True, Decimal(100))],
)
def test_the_number_schema_says_exactly_which_numbers_are_taken(
    field: str, above_zero: bool, maximum: Decimal, number: Decimal
) -> None:
    in_cents = number == number.quantize(Decimal("0.01"))
    in_bounds = (number > 0 if above_zero else number >= 0) and number <= maximum
    assert _accepted(field, number) == (in_cents and in_bounds)
