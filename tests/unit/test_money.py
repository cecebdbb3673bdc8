"""Money in and out: Decimal, cents half up, never NaN, infinite, negative or past NUMERIC(14, 2)."""

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from app.core.money import Money, MoneyOut, Percentage, PositiveMoney, to_cents


class Amounts(BaseModel):
    money: Money = Decimal("0")
    positive: PositiveMoney = Decimal("1")
    percentage: Percentage = Decimal("1")


@pytest.mark.parametrize(
    ("given", "expected"), [("0.005", "0.01"), ("2.675", "2.68"), ("2.665", "2.67"), ("1", "1.00")]
)
def test_to_cents_rounds_half_up(given: str, expected: str) -> None:
    assert to_cents(Decimal(given)) == Decimal(expected)


def test_amounts_are_rounded_to_cents_on_the_way_in() -> None:
    assert Amounts(money="10.005").money == Decimal("10.01")  # type: ignore[arg-type]
    assert Amounts(money=19.999).money == Decimal("20.00")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "-0.01", "1000000000000", "1e400", "abc"])
def test_money_refuses_what_a_numeric_column_cannot_hold(bad: str) -> None:
    with pytest.raises(ValidationError):
        Amounts(money=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["0", "0.004", "-5"])
def test_a_positive_amount_must_be_at_least_a_cent_once_rounded(bad: str) -> None:
    with pytest.raises(ValidationError):
        Amounts(positive=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["0", "100.01", "NaN", "0.001"])
def test_a_percentage_is_above_zero_and_at_most_100(bad: str) -> None:
    with pytest.raises(ValidationError):
        Amounts(percentage=bad)  # type: ignore[arg-type]


def test_money_goes_out_as_a_json_number() -> None:
    class Out(BaseModel):
        amount: MoneyOut

    assert Out(amount=Decimal("100.50")).model_dump_json() == '{"amount":100.5}'
