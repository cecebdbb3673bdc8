"""Budget burn: buckets, the cumulative series and the run-out projection (pure, no database)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.admin.burn_display import chart_data, run_out_text
from app.discounts.burn import (
    DAY,
    HOUR,
    RunOut,
    bucket_of,
    bucket_plan,
    burn_series,
    pace_per_second,
    project_run_out,
)

T0 = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)


def d(value: str) -> Decimal:
    return Decimal(value)


def test_a_campaign_of_up_to_three_days_is_bucketed_per_hour_from_the_hour_it_starts() -> None:
    plan = bucket_plan(T0, T0 + timedelta(days=3), T0 + timedelta(hours=5, minutes=10), "UTC")
    assert plan.size == HOUR
    assert plan.origin == T0.replace(minute=0)
    assert plan.count == 6  # 08:00 .. 14:00, the last one running


def test_a_longer_campaign_is_bucketed_per_day_from_local_midnight() -> None:
    plan = bucket_plan(T0, T0 + timedelta(days=30), T0 + timedelta(days=2), "Europe/Berlin")
    assert plan.size == DAY
    assert plan.origin == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # midnight in Berlin
    assert plan.count == 3


def test_an_ended_campaign_has_buckets_to_its_end_and_a_scheduled_one_has_one() -> None:
    ended = bucket_plan(T0, T0 + timedelta(hours=2), T0 + timedelta(days=10), "UTC")
    assert ended.count == 3
    scheduled = bucket_plan(T0, T0 + timedelta(hours=2), T0 - timedelta(days=1), "UTC")
    assert scheduled.count == 1


def test_instants_outside_the_plan_are_clamped_to_its_edges() -> None:
    plan = bucket_plan(T0, T0 + timedelta(hours=10), T0 + timedelta(hours=3), "UTC")
    assert bucket_of(plan, T0 - timedelta(days=1)) == 0
    assert bucket_of(plan, T0 + timedelta(hours=1)) == 1
    assert bucket_of(plan, T0 + timedelta(days=1)) == plan.count - 1


def test_the_spent_series_is_cumulative_and_empty_buckets_carry_the_total_over() -> None:
    now = T0 + timedelta(hours=3, minutes=30)
    plan = bucket_plan(T0, T0 + timedelta(days=1), now, "UTC")
    series = burn_series(plan, {0: d("10.00"), 2: d("5.50")}, budget=d("100"), pace_per_second=None, end=T0, now=now)
    assert series.spent == [d("10.00"), d("10.00"), d("15.50"), d("15.50")]
    assert series.per_bucket == [d("10.00"), d("0.00"), d("5.50"), d("0.00")]
    assert series.projection == [None] * 4
    assert series.labels[0] == T0.replace(minute=0) + HOUR


def test_the_projection_continues_from_the_last_point_at_the_pace_until_the_budget() -> None:
    now = T0 + timedelta(minutes=30)  # 09:00, the end of bucket 0
    end = T0 + timedelta(days=2)
    plan = bucket_plan(T0, end, now, "UTC")
    pace = d("10") / 3600  # 10 an hour
    series = burn_series(plan, {0: d("20")}, budget=d("50"), pace_per_second=pace, end=end, now=now)
    assert series.spent == [d("20"), None, None, None]
    assert series.projection == [d("20"), d("30.00"), d("40.00"), d("50")]


def test_the_projection_stops_at_the_campaign_end() -> None:
    now = T0 + timedelta(minutes=30)
    end = T0 + timedelta(hours=2, minutes=50)  # 11:20
    plan = bucket_plan(T0, end, now, "UTC")
    series = burn_series(plan, {0: d("1")}, budget=d("1000"), pace_per_second=d("1") / 3600, end=end, now=now)
    assert series.labels[1:] == [T0 + timedelta(hours=1, minutes=30), T0 + timedelta(hours=2, minutes=30), end]
    assert series.projection == [d("1"), d("2.00"), d("3.00"), d("3.33")]


def test_no_projection_without_pace_or_once_the_budget_is_spent() -> None:
    now = T0 + timedelta(hours=1)
    plan = bucket_plan(T0, T0 + timedelta(days=1), now, "UTC")
    spent = burn_series(plan, {0: d("50")}, budget=d("50"), pace_per_second=d("1"), end=T0 + DAY, now=now)
    assert spent.projection == [None, None]


def test_pace_is_over_the_last_day_or_since_the_start_when_shorter() -> None:
    now = T0 + timedelta(days=5)
    assert pace_per_second(d("86.40"), start=T0, now=now) == d("0.001")
    assert pace_per_second(d("36"), start=now - timedelta(hours=1), now=now) == d("0.01")
    assert pace_per_second(d("0"), start=T0, now=now) is None
    assert pace_per_second(d("5"), start=now, now=now) is None


def test_run_out_is_remaining_over_pace() -> None:
    now = T0 + timedelta(days=2)
    # 24 spent in the last day: 1 an hour; 3 left -> 3 hours
    run_out = project_run_out(remaining=d("3"), spent_in_window=d("24"), start=T0, end=T0 + DAY * 10, now=now)
    assert run_out == RunOut(at=now + timedelta(hours=3), lasts=False)


def test_run_out_after_the_end_means_it_lasts() -> None:
    now = T0 + timedelta(days=2)
    run_out = project_run_out(remaining=d("100"), spent_in_window=d("24"), start=T0, end=now + HOUR, now=now)
    assert run_out.lasts and run_out.at is None


def test_no_use_means_no_projection_and_a_spent_budget_runs_out_now() -> None:
    now = T0 + HOUR
    unused = project_run_out(remaining=d("100"), spent_in_window=d("0"), start=T0, end=T0 + DAY, now=now)
    assert unused.no_use
    spent = project_run_out(remaining=d("0"), spent_in_window=d("0"), start=T0, end=T0 + DAY, now=now)
    assert spent.at == now


def test_run_out_text() -> None:
    now = datetime(2026, 12, 4, 13, 5, tzinfo=UTC)
    three_hours = RunOut(at=now + timedelta(hours=3), lasts=False)
    assert run_out_text(three_hours, now, "Europe/Berlin") == "Runs out in about 3 h (Dec 4, 17:05)"
    assert run_out_text(RunOut(at=None, lasts=True), now, "UTC") == "Lasts to its end"
    assert run_out_text(RunOut(at=None, lasts=False), now, "UTC") == "No use yet"
    assert run_out_text(RunOut(at=now + timedelta(minutes=20), lasts=False), now, "UTC").startswith(
        "Runs out in about 20 min"
    )
    assert run_out_text(RunOut(at=now + DAY * 4, lasts=False), now, "UTC").startswith("Runs out in about 4 days")


def test_chart_data_writes_money_as_strings_and_labels_on_the_local_clock() -> None:
    now = T0 + timedelta(minutes=30)
    plan = bucket_plan(T0, T0 + DAY, now, "UTC")
    series = burn_series(plan, {0: d("20")}, budget=d("25"), pace_per_second=d("10") / 3600, end=T0 + DAY, now=now)
    data = chart_data(series, "Europe/Berlin")
    assert data == {
        "labels": ["Dec 4 10:00", "Dec 4 11:00"],
        "spent": ["20.00", None],
        "projection": ["20.00", "25.00"],
        "budget": "25.00",
    }


def test_a_campaign_over_the_whole_calendar_gets_a_few_hundred_points_and_no_overflow() -> None:
    start = datetime(1, 1, 1, tzinfo=UTC)
    end = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    plan = bucket_plan(start, end, now, "America/New_York")
    assert plan.size > DAY
    series = burn_series(plan, {10**9: d("5")}, budget=d("1e12"), pace_per_second=d("0.0001"), end=end, now=now)
    assert len(series.labels) <= 402
    assert series.labels[-1] == end and series.spent[plan.count - 1] == d("5")
    data = chart_data(series, "Pacific/Kiritimati")
    assert data["labels"][-1].endswith("9999")
