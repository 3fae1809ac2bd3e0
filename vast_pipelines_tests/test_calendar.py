"""The calendar sweep: spend, sensors, rollup and partitions at the calendar's edges, each asserting figures.

Every instant is pinned through ``vast_pipelines.clock`` (and Dagster's partition clock), so the suite gives the
same verdicts whatever day it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from vast_pipelines.definitions import defs
from vast_pipelines.defs.costs.partitions import last_complete_partition
from vast_pipelines.domain.periods import periods_at
from vast_pipelines_tests.conftest import evaluate_sensor, insert_costs, make_resources

HOURLY_COST = 2.5  # one request per hour of the local day, so a day's spend says how many hours it had
NEW_YORK = "America/New_York"


@dataclass(frozen=True)
class Instant:
    name: str
    now: datetime
    zone: str
    last_week: str  # the last complete Monday-Sunday week's partition key at ``now``
    last_month: str


INSTANTS = [
    Instant("first-minute-of-a-month", datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC), "UTC", "2026-02-16", "2026-02-01"),
    Instant("last-minute-of-a-month", datetime(2026, 4, 30, 23, 59, tzinfo=UTC), "UTC", "2026-04-20", "2026-03-01"),
    Instant("new-year-00:05", datetime(2027, 1, 1, 0, 5, tzinfo=UTC), "UTC", "2026-12-21", "2026-12-01"),
    Instant("leap-day-2028", datetime(2028, 2, 29, 12, 0, tzinfo=UTC), "UTC", "2028-02-21", "2028-01-01"),
    # The local days on which New York changes its clocks have 23 and 25 hours.
    Instant(
        "spring-forward-23h",
        datetime(2026, 3, 8, 23, 59, tzinfo=ZoneInfo(NEW_YORK)),
        NEW_YORK,
        "2026-02-23",
        "2026-02-01",
    ),
    Instant(
        "fall-back-25h",
        datetime(2026, 11, 1, 23, 59, tzinfo=ZoneInfo(NEW_YORK)),
        NEW_YORK,
        "2026-10-19",
        "2026-10-01",
    ),
]


@dataclass(frozen=True)
class Expected:
    today_requests: int
    today_cost: float
    previous_day_cost: float
    month_to_date: float


def fill(database, instant: Instant) -> Expected:
    """One request an hour since local midnight; two yesterday (its first and last second); one just before the
    month began. Returns what every window must then hold."""
    periods = periods_at(instant.now, ZoneInfo(instant.zone))
    hours = []
    moment = periods.today_start.astimezone(UTC) + timedelta(seconds=10)  # UTC: an hour is an hour
    while moment < instant.now:
        hours.append(moment)
        moment += timedelta(hours=1)
    rows = [(m, "llama-2-7b", HOURLY_COST, 1.0, False) for m in hours]
    rows += [
        (periods.previous_day_start, "llama-3-70b", 3.0, 2.0, True),
        (periods.today_start - timedelta(microseconds=1), "llama-3-70b", 7.0, 2.0, False),
        (instant.now + timedelta(days=2), "llama-2-7b", 99.0, 1.0, False),  # in the future: never money
    ]
    yesterday_in_month = periods.previous_day_start >= periods.month_start
    if yesterday_in_month:
        rows.append((periods.month_start - timedelta(microseconds=1), "llama-2-7b", 13.0, 1.0, False))
    insert_costs(database, rows)
    today = HOURLY_COST * len(hours)
    return Expected(len(hours), today, 10.0, today + (10.0 if yesterday_in_month else 0.0))


@pytest.mark.parametrize("instant", INSTANTS, ids=lambda i: i.name)
def test_spend_sensors_rollup_and_partitions_at_the_calendars_edges(database, at, monkeypatch, instant):
    at(instant.now)
    monkeypatch.setenv("VAST_PIPELINES_TIMEZONE", instant.zone)
    expected = fill(database, instant)
    tz = ZoneInfo(instant.zone)
    local_today = instant.now.astimezone(tz).date()
    resources = make_resources(database, timezone=instant.zone)

    spend = database.spend.summary(periods_at(instant.now, tz))
    assert (spend.today_requests, spend.today_cost) == (expected.today_requests, pytest.approx(expected.today_cost))
    assert spend.previous_day_cost == pytest.approx(expected.previous_day_cost)
    assert spend.month_to_date == pytest.approx(expected.month_to_date)
    assert spend.future_rows == 1

    with dg.instance_for_test() as instance:
        runaway = evaluate_sensor("runaway_cost_sensor", resources, instance)
        budget = evaluate_sensor("budget_alert_sensor", resources, instance)
        freshness = evaluate_sensor("cost_freshness_sensor", resources, instance)
    if expected.today_cost > 50:  # only a full 23- or 25-hour day of $2.50 an hour is a runaway
        [request] = runaway.run_requests
        assert request.run_key == f"runaway:{local_today}"
        assert request.tags["vast_pipelines/today_spend"] == f"{expected.today_cost:.2f}"
    else:
        assert not runaway.run_requests
        assert f"Today ${expected.today_cost:,.2f} ({expected.today_requests:,} requests" in runaway.skip_message
    if expected.month_to_date >= 50:  # the $50 level of the local month is claimed, and its alert delivered by a run
        [delivery] = budget.run_requests
        assert delivery.run_key.startswith(f"budget:{local_today:%Y-%m}:") and "info" in delivery.run_key
    else:
        assert not budget.run_requests
        assert f"Month-to-date ${expected.month_to_date:,.2f}; levels crossed: none" in budget.skip_message
    assert "Cost data fresh: last request" in freshness.skip_message

    # Dagster's partitions, as of the instant: the last complete week (Monday to Sunday) and month.
    location = defs()
    weekly = location.resolve_job_def("weekly_cost_report_job").partitions_def
    monthly = location.resolve_job_def("monthly_cost_report_job").partitions_def
    assert last_complete_partition(weekly) == instant.last_week
    assert last_complete_partition(monthly) == instant.last_month

    # A day's rollup covers exactly that local day: 23 or 25 hours on the DST days.
    with dg.partition_loading_context(effective_dt=instant.now + timedelta(days=1)), dg.instance_for_test() as inst:
        job = location.resolve_job_def("daily_cost_history_job")
        result = job.execute_in_process(instance=inst, resources=resources, partition_key=str(local_today))
    assert result.success
    [event] = result.get_asset_materialization_events()
    figures = {k: v.value for k, v in event.materialization.metadata.items()}
    assert figures["requests"] == expected.today_requests
    assert figures["daily_cost"] == pytest.approx(expected.today_cost)
    # The spend statement then reads that day from the rollup, with the same figures.
    again = database.spend.summary(periods_at(instant.now, tz))
    assert again.today_cost == pytest.approx(spend.today_cost)
    assert again.month_to_date == pytest.approx(spend.month_to_date)


@pytest.mark.parametrize(
    ("instant", "hours"),
    [(INSTANTS[4], 23), (INSTANTS[5], 25)],
    ids=["spring-forward", "fall-back"],
)
def test_a_dst_day_has_its_own_number_of_hours(database, at, instant, hours):
    at(instant.now)
    expected = fill(database, instant)
    assert expected.today_requests == hours  # the fixture itself: one request per real hour of the local day
    with database.begin() as conn:
        local_days = conn.execute(
            sa.text('SELECT count(*) FROM vast_ai_costs WHERE ("timestamp" AT TIME ZONE :zone)::date = :day'),
            {"zone": instant.zone, "day": instant.now.astimezone(ZoneInfo(instant.zone)).date()},
        ).scalar_one()
    assert local_days == hours


def test_the_monthly_review_on_the_first_covers_the_month_that_ended(database, at, monkeypatch):
    instant = INSTANTS[2]  # 1 January 00:05: the review is of December
    at(instant.now)
    fill(database, instant)
    insert_costs(database, [(datetime(2026, 12, 15, 12, tzinfo=UTC), "llama-2-7b", 4.0, 1.0, False)])
    with dg.partition_loading_context(effective_dt=instant.now), dg.instance_for_test() as inst:
        job = defs().resolve_job_def("monthly_cost_report_job")
        result = job.execute_in_process(
            instance=inst,
            resources=make_resources(database),
            partition_key=last_complete_partition(job.partitions_def),
            run_config={"ops": {"monthly_cost_report": {"config": {"post_to_slack": False}}}},
        )
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["monthly_cost_report"]]
    figures = {k: v.value for k, v in event.materialization.metadata.items()}
    # December 31st's first and last second ($3 + $7) and the 15th ($4); 1 January's first minute is not December.
    assert figures["monthly_cost"] == pytest.approx(14.0) and figures["total_requests"] == 3
    assert date(2026, 12, 1).isoformat() == last_complete_partition(job.partitions_def)
