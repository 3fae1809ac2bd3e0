"""Incremental spend (issue 14): spend_minutes kept current by the ticks gives the raw statement's figures exactly,
catches late rows, and two refreshers never count a row twice."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from vast_pipelines.domain.periods import periods_at
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.store import spend_minutes
from vast_pipelines.store.minute_plan import (
    MAX_ADVANCE,
    SETTLE,
    Coverage,
    ceil_minute,
    floor_minute,
    minute_runs,
    minutes_fit,
    plan_refresh,
    read_bounds,
    sweep_slice,
)
from vast_pipelines.store.spend import SUMMARY as SPEND_SUMMARY
from vast_pipelines.store.spend import spend_parameters
from vast_pipelines_tests.conftest import insert_costs

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 20, 22, 30, 17, tzinfo=UTC)  # 17:30:17 in New York


# --- pure -----------------------------------------------------------------------------------------------------


def test_minutes_round_in_utc():
    at = datetime(2026, 11, 20, 17, 30, 17, 5, tzinfo=ZoneInfo("Asia/Kathmandu"))  # +05:45
    assert floor_minute(at) == datetime(2026, 11, 20, 11, 45, tzinfo=UTC)
    assert ceil_minute(at) == datetime(2026, 11, 20, 11, 46, tzinfo=UTC)
    assert ceil_minute(floor_minute(at)) == floor_minute(at)


def test_zones_with_whole_minute_offsets_fit_and_an_old_local_mean_time_does_not():
    assert minutes_fit(periods_at(NOW, ZoneInfo("Asia/Kathmandu")))
    assert minutes_fit(periods_at(NOW, TZ))
    # Amsterdam kept +00:19:32 until 1937: its days did not start on a minute.
    assert not minutes_fit(periods_at(datetime(1930, 6, 1, 12, tzinfo=UTC), ZoneInfo("Europe/Amsterdam")))
    assert read_bounds(
        Coverage(NOW, NOW, NOW),
        periods_at(datetime(1930, 6, 1, 12, tzinfo=UTC), ZoneInfo("Europe/Amsterdam")),
        rolling_24h=False,
    )["summed_through"] == datetime(1930, 6, 1, 12, tzinfo=UTC)  # everything raw


def test_the_first_refresh_sums_today_up_to_the_settled_minute():
    early = datetime(2026, 11, 20, 8, 30, 17, tzinfo=UTC)  # 03:30 in New York
    periods = periods_at(early, TZ)
    plan = plan_refresh(None, periods=periods, rolling_24h=False)
    settled = floor_minute(early - SETTLE)
    assert plan.reset and plan.resum == ((periods.today_start, settled),)
    assert plan.coverage == Coverage(periods.today_start, settled, settled)


def test_late_in_the_day_the_first_refreshes_catch_up_a_few_hours_each():
    late = periods_at(datetime(2026, 11, 21, 4, 59, tzinfo=UTC), TZ)  # 23:59 in New York
    first = plan_refresh(None, periods=late, rolling_24h=False)
    assert first.resum == ((late.today_start, late.today_start + MAX_ADVANCE),)
    refreshes = 1
    state = first.coverage
    while state.summed_through < floor_minute(late.now - SETTLE):
        state = plan_refresh(state, periods=late, rolling_24h=False).coverage
        refreshes += 1
    assert refreshes == 4 and state.summed_through == floor_minute(late.now - SETTLE)


def test_a_later_refresh_sums_only_the_new_minutes_and_a_rolling_window_extends_back_once():
    periods = periods_at(NOW, TZ)
    state = Coverage(periods.today_start, NOW - timedelta(minutes=10, seconds=17), periods.today_start)
    plan = plan_refresh(state, periods=periods, rolling_24h=False)
    assert not plan.reset and plan.resum == ((state.summed_through, floor_minute(NOW - SETTLE)),)
    rolling = plan_refresh(state, periods=periods, rolling_24h=True)
    first = floor_minute(periods.rolling_24h_start)
    assert rolling.resum[0] == (first, periods.today_start) and rolling.coverage.covered_from == first


def test_minutes_older_than_yesterday_are_forgotten_and_a_pause_of_days_starts_over():
    periods = periods_at(NOW, TZ)
    old = Coverage(NOW - timedelta(days=3), NOW - timedelta(days=1, hours=1), NOW - timedelta(days=2))
    after_midnight = plan_refresh(old, periods=periods, rolling_24h=False)
    assert after_midnight.prune and after_midnight.coverage.covered_from == periods.previous_day_start
    assert not plan_refresh(after_midnight.coverage, periods=periods, rolling_24h=False).prune
    stale = Coverage(NOW - timedelta(days=5), NOW - timedelta(days=4), NOW - timedelta(days=4))
    assert plan_refresh(stale, periods=periods, rolling_24h=False).reset


def test_the_sweep_walks_down_within_its_budget_and_starts_again_at_the_top():
    bottom, top = datetime(2026, 11, 20, 5, tzinfo=UTC), datetime(2026, 11, 20, 22, tzinfo=UTC)
    new_pass = Coverage(bottom, top, bottom)
    over = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    assert sweep_slice(new_pass, over) == (over + timedelta(minutes=1), top)
    assert sweep_slice(Coverage(bottom, top, over), None) == (bottom, over)  # the rest fits
    # A single minute over the budget is re-summed alone.
    assert sweep_slice(Coverage(bottom, top, over), over - timedelta(minutes=1)) == (over - timedelta(minutes=1), over)


def test_a_clock_set_back_reads_raw_from_its_minute():
    periods = periods_at(NOW, TZ)
    ahead = Coverage(periods.today_start, NOW + timedelta(hours=1), NOW)
    bounds = read_bounds(ahead, periods, rolling_24h=False)
    assert bounds["summed_through"] == floor_minute(NOW)


# --- on PostgreSQL --------------------------------------------------------------------------------------------


def _traffic(start: datetime, hours: int, every_minutes: int = 7) -> list[tuple]:
    rows = []
    for n in range(hours * 60 // every_minutes):
        at = start + timedelta(minutes=n * every_minutes, seconds=n % 59)
        cost: object = round(0.01 + (n % 13) * 0.37, 2)
        if n % 17 == 0:
            cost = None
        elif n % 19 == 0:
            cost = -0.25  # a credit
        elif n % 23 == 0:
            cost = Decimal("NaN")
        elif n % 29 == 0:
            cost = Decimal("Infinity")
        rows.append((at, None if n % 31 == 0 else f"model-{n % 3}", cost, 1.5, n % 4 == 0))
    return rows


def _raw(database: AnalyticsDatabase, now: datetime, rolling: bool) -> sa.RowMapping:
    """The same statement with nothing pre-summed: every row raw, as before issue 14."""
    periods = periods_at(now, TZ)
    with database.begin() as conn:
        row = conn.execute(sa.text(SPEND_SUMMARY), {**spend_parameters(periods), "with_rolling": rolling})
        return row.mappings().one()


def _check(database: AnalyticsDatabase, now: datetime, rolling: bool) -> SpendSummary:
    spend = database.spend.summary(periods_at(now, TZ), rolling_24h=rolling)
    raw = _raw(database, now, rolling)
    for field, column in [
        ("today_cost", "today_cost"),
        ("today_requests", "today_requests"),
        ("today_costed_requests", "today_costed_requests"),
        ("today_null_cost_rows", "today_null_cost_rows"),
        ("today_invalid_cost_rows", "today_invalid_cost_rows"),
        ("today_negative_cost_rows", "today_negative_cost_rows"),
        ("month_to_date", "month_to_date"),
        ("month_requests", "month_requests"),
        ("month_credit", "month_credit"),
        ("month_null_cost_rows", "month_null_cost_rows"),
        ("month_invalid_cost_rows", "month_invalid_cost_rows"),
        ("previous_day_cost", "previous_day_cost"),
        ("previous_day_requests", "previous_day_requests"),
        ("rolling_24h_cost", "rolling_24h_cost"),
        ("rolling_24h_requests", "rolling_24h_requests"),
        ("last_7_days_cost", "last_7_days_cost"),
    ]:
        expected = float(raw[column] or 0)
        assert getattr(spend, field) == pytest.approx(expected, abs=1e-9), (field, now)
    return spend


def _minutes_total(database: AnalyticsDatabase) -> int:
    with database.begin() as conn:
        return conn.execute(sa.text("SELECT COALESCE(SUM(requests), 0) FROM vast_pipelines.spend_minutes")).scalar()


def test_ticks_through_a_day_give_the_raw_figures_to_the_cent_with_null_nan_and_credits(database):
    insert_costs(database, _traffic(datetime(2026, 11, 18, 5, tzinfo=UTC), 72))
    for hours in (0, 0.02, 1, 1.5, 4, 4.01):  # the first tick sums the day, later ones only what settled since
        _check(database, NOW + timedelta(hours=hours), rolling=False)
    spend = _check(database, NOW + timedelta(hours=4, minutes=3), rolling=True)  # health check: rolling 24 h too
    assert spend.today_invalid_cost_rows > 0 and spend.today_negative_cost_rows > 0 and spend.today_null_cost_rows > 0
    with database.begin() as conn:
        covered_from, summed_through = conn.execute(
            sa.text("SELECT covered_from, summed_through FROM vast_pipelines.spend_minutes_state")
        ).one()
    assert covered_from == floor_minute(NOW + timedelta(hours=4, minutes=3) - timedelta(days=1))
    assert summed_through == floor_minute(NOW + timedelta(hours=4, minutes=3) - SETTLE)
    # A new local day: yesterday's minutes stay for the rolling 24 h, older ones go.
    _check(database, NOW + timedelta(days=1, hours=1), rolling=True)


def test_a_row_logged_within_the_last_minute_counts_at_once_and_a_late_row_at_the_next_tick(database):
    insert_costs(database, _traffic(NOW - timedelta(hours=10), 10))
    before = _check(database, NOW, rolling=False)
    insert_costs(database, [(NOW - timedelta(seconds=30), "model-0", 7.0, 1.0, False)])  # in the raw tail
    assert database.spend.summary(periods_at(NOW, TZ), rolling_24h=False).today_cost == pytest.approx(
        before.today_cost + 7.0
    )
    insert_costs(database, [(NOW - timedelta(hours=3), "model-1", 11.0, 1.0, False)])  # already summed: late
    after = _check(database, NOW, rolling=False)  # the sweep re-summed the day (its rows fit in one slice)
    assert after.today_cost == pytest.approx(before.today_cost + 18.0)


def test_at_high_volume_a_late_row_is_caught_within_one_sweep_pass(database):
    periods = periods_at(NOW, TZ)
    insert_costs(database, _traffic(periods.today_start, 17, every_minutes=1))  # about 1,000 rows today
    for _ in range(4):  # 17.5 hours of today: summed a few hours per refresh
        _check(database, NOW, rolling=False)
    with database.begin() as conn:
        assert spend_minutes.coverage(conn).summed_through == floor_minute(NOW - SETTLE)
    insert_costs(database, [(periods.today_start + timedelta(hours=1), "model-2", 5.0, 1.0, False)])
    with database.begin() as conn:
        summed = float(conn.execute(sa.text("SELECT SUM(charged) FROM vast_pipelines.spend_minutes")).scalar())
    refreshes = 0
    while True:  # a budget of 100 rows per refresh: about ten refreshes per pass
        with database.begin() as conn:
            spend_minutes.refresh(conn, periods, rolling_24h=False, sweep_rows=100)
            now_summed = float(conn.execute(sa.text("SELECT SUM(charged) FROM vast_pipelines.spend_minutes")).scalar())
        refreshes += 1
        if now_summed > summed:
            break
        assert refreshes < 15, "a pass over today did not catch the late row"
    assert now_summed == pytest.approx(summed + 5.0)
    assert refreshes > 1  # each refresh re-summed a bounded slice, not the whole day
    _check(database, NOW, rolling=False)


def test_two_refreshers_at_once_never_count_a_row_twice(database):
    insert_costs(database, _traffic(NOW - timedelta(hours=12), 12, every_minutes=1))
    periods = periods_at(NOW, TZ)
    errors: list[BaseException] = []

    def tick(offset: int) -> None:
        try:
            for n in range(6):
                database.spend.summary(periods_at(NOW + timedelta(minutes=offset + n), TZ), rolling_24h=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # One refresher holds the lock while the other reads what was committed: same figures.
    with database.begin() as holder:
        spend_minutes.refresh(holder, periods, rolling_24h=False)
        assert spend_minutes.coverage(holder) is not None
        _check(database, NOW, rolling=False)
    with database.begin() as conn:
        in_minutes = _minutes_total(database)
        raw = conn.execute(
            sa.text('SELECT COUNT(*) FROM vast_ai_costs WHERE "timestamp" >= :start AND "timestamp" < :end'),
            {"start": periods.today_start, "end": spend_minutes.coverage(conn).summed_through},
        ).scalar()
    assert in_minutes == raw


def test_changed_minutes_are_summed_again_in_runs():
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    minutes = [at, at + timedelta(minutes=1), at + timedelta(minutes=5)]
    assert minute_runs(minutes) == [
        (at, at + timedelta(minutes=2)),
        (at + timedelta(minutes=5), at + timedelta(minutes=6)),
    ]
    assert minute_runs([]) == []
