from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from vast_pipelines.config import history_start
from vast_pipelines.definitions import defs
from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.costs import daily_costs
from vast_pipelines.reports.figures import round_money
from vast_pipelines_tests.conftest import insert_costs, make_resources
from vast_pipelines_tests.cost_runs import days, guide_between, local, run_partition
from vast_pipelines_tests.test_health_check import checks, metadata

NEW_YORK = "America/New_York"


def tick(repository, schedule, at: datetime) -> list[dg.RunRequest]:
    """The run requests of one evaluation of ``schedule`` at ``at``."""
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=at, repository_def=repository) as context,
    ):
        return list(schedule.evaluate_tick(context).run_requests or [])


def history_rows(database) -> list:
    with database.begin() as conn:
        return conn.execute(
            sa.text("SELECT day, model, requests, cost FROM vast_pipelines.daily_cost_history ORDER BY day, model")
        ).all()


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("VAST_PIPELINES_TIMEZONE", NEW_YORK)
    return NEW_YORK


def test_rollup_equals_the_guides_daily_sql_in_a_non_utc_zone_across_a_dst_change(database, new_york):
    ny = lambda day, at="00:00:00": local(day, at, NEW_YORK)  # noqa: E731
    insert_costs(
        database,
        [
            (ny("2026-03-06", "23:59:59.999999"), "llama-2-7b", 0.10, 1.0, False),  # the day before
            (ny("2026-03-07"), "llama-2-7b", 0.25, 1.2, False),  # exactly at local midnight
            (ny("2026-03-07", "12:00:00"), "llama-2-7b", 1.255, 1.4, False),
            (ny("2026-03-07", "13:00:00"), "llama-2-7b", None, 1.0, False),  # no cost: counted apart
            (ny("2026-03-07", "14:00:00"), "llama-3-70b", 4.10, 25.0, True),
            (ny("2026-03-07", "15:00:00"), None, 0.5, None, None),  # no model, no duration
            (ny("2026-03-08"), "mistral-7b-instruct", 0.333, 2.0, True),  # DST starts at 02:00 this day
            (ny("2026-03-08", "03:30:00"), "mistral-7b-instruct", 0.667, 2.0, False),
            (ny("2026-03-08", "23:59:59"), "llama-2-7b", 9.0, 3.0, False),
            (ny("2026-03-09"), "llama-2-7b", 11.0, 3.0, False),  # exactly at midnight: the next day
        ],
    )
    resources = make_resources(database, timezone=NEW_YORK)
    for key in days("2026-03-06", 4):
        assert run_partition("daily_cost_history_job", key, resources).success

    history = database.cost_history.read(date(2026, 3, 6), date(2026, 3, 10))
    ours = {
        d.day: (round_money(d.totals.cost, 2), d.totals.requests)
        for d in daily_costs(history.rows, history.days, date(2026, 3, 6), date(2026, 3, 10))
    }
    guide = guide_between(database, "current_month", NEW_YORK, ny("2026-03-06"), ny("2026-03-10"))
    assert {day: (cost, requests) for day, cost, requests in guide} == ours
    assert ours[date(2026, 3, 7)] == (Decimal("6.11"), 5)
    assert ours[date(2026, 3, 8)] == (Decimal("10.00"), 3)

    [no_model] = [r for r in history.rows if r.model == "(no model)"]
    assert (no_model.totals.requests, no_model.totals.null_duration_requests) == (1, 1)
    [big] = [r for r in history.rows if r.model == "llama-3-70b"]
    assert big.totals.cold_start_requests == 1 and big.totals.cold_start_cost == Decimal("4.10")
    [small] = [r for r in history.rows if r.model == "llama-2-7b" and r.day == date(2026, 3, 7)]
    assert small.totals.null_cost_requests == 1 and small.totals.duration_count == 3


def test_metadata_verdict_and_check_of_one_day(database):
    insert_costs(
        database,
        [
            (local("2026-05-04", "09:00:00"), "llama-2-7b", 6.0, 2.0, False),
            (local("2026-05-04", "10:00:00"), "llama-2-7b", None, 2.0, True),
        ],
    )
    result = run_partition("daily_cost_history_job", "2026-05-04", make_resources(database))
    meta = metadata(result, "daily_cost_history")
    assert meta["daily_cost"] == pytest.approx(6.0)
    assert meta["requests"] == 2 and meta["cost_per_request"] == pytest.approx(3.0)  # SUM(cost) / COUNT(*)
    assert meta["null_cost_requests"] == 1 and meta["cold_start_requests"] == 1
    assert meta["daily_verdict"] == "moderate"
    band = checks(result)["daily_cost_band"]
    assert band.passed is False and band.severity == dg.AssetCheckSeverity.WARN


def test_high_day_fails_the_band_check(database):
    insert_costs(database, [(local("2026-05-04", "09:00:00"), "llama-3-70b", 12.5, 40.0, False)])
    result = run_partition("daily_cost_history_job", "2026-05-04", make_resources(database))
    band = checks(result)["daily_cost_band"]
    assert band.passed is False and band.severity == dg.AssetCheckSeverity.ERROR


def test_rematerializing_a_day_replaces_it_and_picks_up_late_rows(database):
    insert_costs(database, [(local("2026-05-04", "09:00:00"), "llama-2-7b", 1.0, 1.0, False)])
    resources = make_resources(database)
    run_partition("daily_cost_history_job", "2026-05-04", resources)
    run_partition("daily_cost_history_job", "2026-05-04", resources)
    assert history_rows(database) == [(date(2026, 5, 4), "llama-2-7b", 1, Decimal("1.0"))]

    insert_costs(
        database,
        [
            (local("2026-05-04", "23:30:00"), "llama-2-7b", 2.0, 1.0, False),  # arrived late
            (local("2026-05-05", "00:10:00"), "llama-2-7b", 5.0, 1.0, False),  # another day: not touched
        ],
    )
    result = run_partition("daily_cost_history_job", "2026-05-04", resources)
    assert metadata(result, "daily_cost_history")["daily_cost"] == pytest.approx(3.0)
    assert history_rows(database) == [(date(2026, 5, 4), "llama-2-7b", 2, Decimal("3.0"))]


def test_an_empty_day_is_written_as_no_rows_and_reported_as_no_data(database):
    result = run_partition("daily_cost_history_job", "2026-05-04", make_resources(database))
    meta = metadata(result, "daily_cost_history")
    assert meta["requests"] == 0 and meta["daily_verdict"] == "no data"
    assert "daily_cost" not in meta and "cost_per_request" not in meta  # no data is not $0.00
    band = checks(result)["daily_cost_band"]
    assert band.passed is False and band.severity == dg.AssetCheckSeverity.WARN
    assert history_rows(database) == []
    history = database.cost_history.read(date(2026, 5, 4), date(2026, 5, 5))
    assert history.days[date(2026, 5, 4)].requests == 0 and history.days[date(2026, 5, 4)].timezone == "UTC"


def test_the_morning_schedule_rolls_up_yesterday_and_again_the_day_before():
    repository = defs().get_repository_def()
    schedule = repository.get_schedule_def("daily_cost_history_schedule")
    assert schedule.cron_schedule == "30 7 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    requests = tick(repository, schedule, datetime(2026, 5, 6, 7, 30, tzinfo=UTC))
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("2026-05-05", "2026-05-05@2026-05-06"),
        ("2026-05-04", "2026-05-04@2026-05-06"),
    ]


def test_the_schedule_asks_for_no_day_before_the_history_starts(monkeypatch):
    monkeypatch.setenv("VAST_PIPELINES_HISTORY_START", "2026-05-05")
    repository = defs().get_repository_def()
    schedule = repository.get_schedule_def("daily_cost_history_schedule")
    requests = tick(repository, schedule, datetime(2026, 5, 6, 7, 30, tzinfo=UTC))
    assert [r.partition_key for r in requests] == ["2026-05-05"]


def test_partitions_follow_the_configured_zone_and_start(monkeypatch):
    monkeypatch.setenv("VAST_PIPELINES_TIMEZONE", "Asia/Kolkata")
    monkeypatch.setenv("VAST_PIPELINES_HISTORY_START", "2026-01-01")
    graph = defs().get_repository_def().asset_graph
    daily = graph.get(dg.AssetKey("daily_cost_history")).partitions_def
    weekly = graph.get(dg.AssetKey("weekly_cost_report")).partitions_def
    assert daily.timezone == "Asia/Kolkata" and daily.get_first_partition_key() == "2026-01-01"
    assert weekly.get_first_partition_key() == "2026-01-05"  # the first Monday
    first = weekly.time_window_for_partition_key("2026-01-05")
    assert first.end - first.start == timedelta(days=7)


def test_a_bad_history_start_says_which_variable_to_fix(monkeypatch):
    monkeypatch.setenv("VAST_PIPELINES_HISTORY_START", "last year")
    with pytest.raises(OperatorError, match="VAST_PIPELINES_HISTORY_START='last year' is not a date"):
        history_start()
