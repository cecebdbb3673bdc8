"""The budget slices' plans (app.campaigns.slices), without a database: a layout keeps both sums exact, the
last cents are gathered into one slice without changing what is allotted, and a rollback gives back exactly."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.campaigns.slices import Slice, given_back, last_cents, layout

CENT = Decimal("0.01")
cents = st.integers(min_value=0, max_value=10_000_000).map(lambda n: n * CENT)


@st.composite
def slice_sets(draw: st.DrawFn) -> list[Slice]:
    count = draw(st.integers(min_value=1, max_value=64))
    parts = []
    for number in range(count):
        allotment = draw(cents)
        used = draw(st.integers(min_value=0, max_value=int(allotment / CENT))) * CENT
        parts.append(Slice(number, allotment, used))
    return parts


@given(total=cents, spent_share=st.floats(min_value=0, max_value=1), count=st.integers(min_value=1, max_value=64))
def test_a_layout_allots_the_total_and_keeps_what_is_spent(total: Decimal, spent_share: float, count: int) -> None:
    used = (total * Decimal(spent_share)).quantize(CENT, rounding="ROUND_DOWN")
    parts = layout(total, used, count)
    assert [part.slice for part in parts] == list(range(count))
    assert sum(part.allotment for part in parts) == total
    assert sum(part.used for part in parts) == used
    assert all(Decimal(0) <= part.used <= part.allotment for part in parts)
    frees = [part.free for part in parts]
    assert max(frees) - min(frees) <= CENT, "what is free is spread evenly"


def test_a_layout_gives_the_odd_cents_to_the_first_slices() -> None:
    assert layout(Decimal("10.00"), Decimal("0.00"), 4) == [
        Slice(n, Decimal("2.50"), Decimal("0.00")) for n in range(4)
    ]
    assert [part.allotment for part in layout(Decimal("0.10"), Decimal("0.00"), 3)] == [
        Decimal("0.04"),
        Decimal("0.03"),
        Decimal("0.03"),
    ]


@given(parts=slice_sets(), amount=cents.filter(lambda amount: amount > 0), pick=st.integers(min_value=0))
def test_the_last_cents_are_moved_into_one_slice_without_changing_what_is_allotted(
    parts: list[Slice], amount: Decimal, pick: int
) -> None:
    into = pick % len(parts)
    move = last_cents(parts, amount, into)
    if sum(part.free for part in parts) < amount:
        assert move is None
        return
    assert move is not None and move.into == into
    moved = dict(move.donors)
    assert into not in moved and all(part > 0 for part in moved.values())
    gathered = sum(moved.values(), Decimal(0))
    after = []
    for part in parts:
        change = gathered if part.slice == into else -moved.get(part.slice, Decimal(0))
        after.append(part._replace(allotment=part.allotment + change))
    assert sum(part.allotment for part in after) == sum(part.allotment for part in parts)
    assert all(part.used <= part.allotment for part in after), "no donor gives what it has spent"
    assert after[into].free >= amount
    assert [donor for donor, _ in move.donors] == sorted(moved), "donors in slice order"


@given(parts=slice_sets(), amount=cents)
def test_a_rollback_gives_back_exactly_what_is_spent_and_never_more(parts: list[Slice], amount: Decimal) -> None:
    back = given_back(parts, amount)
    spent = sum(part.used for part in parts)
    assert sum(part for _, part in back) == min(amount, spent)
    used = {part.slice: part.used for part in parts}
    assert all(Decimal(0) < part <= used[number] for number, part in back)


def test_no_last_cents_into_a_slice_an_edit_took_away() -> None:
    parts = layout(Decimal("10.00"), Decimal("0.00"), 4)
    assert last_cents(parts, Decimal("3.00"), 3) is not None
    assert last_cents(parts, Decimal("3.00"), 9) is None
