import io
from datetime import UTC, date, datetime
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa
from PIL import Image

from vast_pipelines.definitions import defs
from vast_pipelines.defs.costs.partitions import last_complete_partition
from vast_pipelines.reports.figures import round_money
from vast_pipelines.resources.vast import VastAIResource
from vast_pipelines_tests.conftest import SLACK_TOKEN, insert_costs, make_resources
from vast_pipelines_tests.cost_runs import days, guide_between, local, post, run_partition
from vast_pipelines_tests.test_health_check import checks, metadata

BERLIN = "Europe/Berlin"
KOLKATA = "Asia/Kolkata"


def weekly_table(database, week: date) -> dict:
    with database.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT day, daily_cost, requests, cost_per_request, rolled_up "
                "FROM vast_pipelines.weekly_cost_report WHERE week_start = :w"
            ),
            {"w": week},
        ).all()
    return {r.day: (round_money(r.daily_cost, 2), r.requests, round_money(r.cost_per_request, 5)) for r in rows}


def stored_report(database, report: str, period: date):
    with database.begin() as conn:
        return conn.execute(
            sa.text("SELECT * FROM vast_pipelines.cost_reports WHERE report = :r AND period_start = :p"),
            {"r": report, "p": period},
        ).one()


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("VAST_PIPELINES_TIMEZONE", BERLIN)


def test_weekly_report_equals_the_guides_sql_across_a_month_boundary_and_posts_its_chart(
    database, berlin, slack_server
):
    at = lambda day, time="12:00:00": local(day, time, BERLIN)  # noqa: E731
    insert_costs(
        database,
        [
            (at("2026-06-28", "23:59:59"), "llama-2-7b", 3.0, 1.0, False),  # Sunday before: previous week
            (at("2026-06-29", "00:00:00"), "llama-2-7b", 1.10, 1.2, False),  # Monday 00:00: this week
            (at("2026-06-30"), "llama-2-7b", 2.345, 1.4, False),
            (at("2026-06-30", "18:00:00"), "llama-2-7b", None, 1.0, False),  # no cost
            (at("2026-07-01", "00:00:00"), "llama-3-70b", 12.0, 30.0, True),  # first of the month: high day
            (at("2026-07-01", "09:00:00"), "llama-3-70b", 0.5, 6.0, False),
            (at("2026-07-05", "23:59:59"), "mistral-7b-instruct", 0.75, 2.0, True),
            (at("2026-07-06", "00:00:00"), "llama-2-7b", 50.0, 1.0, False),  # next Monday: not this week
        ],
    )
    resources = make_resources(database, timezone=BERLIN, slack=slack_server)
    resources["vast"] = VastAIResource(endpoint_names="llama-2-7b, llama-3-70b")  # VAST_ENDPOINTS: no call made
    result = run_partition("weekly_cost_report_job", "2026-06-29", resources, post("weekly_cost_report", True))
    assert result.success

    guide = guide_between(database, "weekly_review", BERLIN, at("2026-06-29", "00:00:00"), at("2026-07-06", "00:00:00"))
    ours = weekly_table(database, date(2026, 6, 29))
    assert len(ours) == 7
    assert {day: (cost, requests, per) for day, cost, requests, per in guide} == {
        day: row for day, row in ours.items() if row[1]
    }
    assert ours[date(2026, 7, 2)] == (None, 0, None)  # no requests: no data, not $0.00

    meta = metadata(result, "weekly_cost_report")
    # $16.695 is shown as PostgreSQL's ROUND(16.695, 2) shows it (half away from zero), kept exact below.
    assert meta["weekly_cost"] == 16.70
    assert meta["requests"] == 6 and meta["cost_per_request"] == 2.7825  # ROUND(16.695 / 6, 5)
    assert meta["days_rolled_up_now"] == 14  # the week, the week before and the month so far
    rolled = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("daily_cost_history")]
    assert sorted(e.partition for e in rolled) == days("2026-06-22", 14)  # the UI's history shows them
    [wednesday] = [e for e in rolled if e.partition == "2026-07-01"]
    assert wednesday.materialization.metadata["daily_cost"].value == pytest.approx(12.5)
    assert meta["days"].records[0].data["day"] == "2026-07-05"  # newest first, as the guide orders
    actions = {r.data["action"] for r in meta["recommendations"].records}
    assert {"implement_batching", "add_caching", "increase_idle_timeout", "reduce_max_workers"} <= actions
    assert "forecast_month_end" in meta and meta["slack_delivery"] == "delivered"

    [upload] = slack_server.files
    assert upload["channel"] == "C0UPDATES" and upload["filename"] == "weekly-cost-report-2026-06-29.png"
    assert upload["content"].startswith(b"\x89PNG")
    chart = Image.open(io.BytesIO(upload["content"]))
    assert chart.size == (800, 420) and chart.mode == "P"  # what it draws: test_charts.py
    text = upload["initial_comment"]
    assert "Weekly cost review" in text and "$16.70" in text and "2026-07-01 Wed" in text
    assert "High daily cost" in text and "set inactivity_timeout=600" in text and "Forecast for July 2026" in text
    assert "vs the previous week: $3.00" in text
    assert SLACK_TOKEN not in text
    # The cold-start opportunity comes with a ready update_worker config per platform endpoint.
    assert "Ready fixes (launch update_worker with this config):" in text
    assert "endpoint: llama-3-70b" in text and "inactivity_timeout: 600" in text
    assert "[Open update_worker with this config](/locations/" in meta["ready_fixes"]

    stored = stored_report(database, "weekly_cost_report", date(2026, 6, 29))
    assert stored.report_markdown == text and stored.cost == Decimal("16.695") and stored.timezone == BERLIN


def test_weekly_report_reads_the_history_not_the_raw_table(database):
    insert_costs(database, [(local("2026-06-02", "10:00:00"), "llama-2-7b", 1.0, 1.0, False)])
    resources = make_resources(database)
    run_partition("daily_cost_history_job", "2026-06-02", resources)
    insert_costs(database, [(local("2026-06-02", "11:00:00"), "llama-2-7b", 4.0, 1.0, False)])  # late row

    result = run_partition("weekly_cost_report_job", "2026-06-01", resources)
    assert metadata(result, "weekly_cost_report")["weekly_cost"] == pytest.approx(1.0)

    run_partition("daily_cost_history_job", "2026-06-02", resources)  # the late row is rolled up
    result = run_partition("weekly_cost_report_job", "2026-06-01", resources)
    assert metadata(result, "weekly_cost_report")["weekly_cost"] == pytest.approx(5.0)


def test_an_empty_week_is_no_data_and_an_old_week_is_not_posted(database, slack_server):
    result = run_partition("weekly_cost_report_job", "2026-06-01", make_resources(database, slack=slack_server))
    meta = metadata(result, "weekly_cost_report")
    assert meta["requests"] == 0 and "weekly_cost" not in meta and "forecast_month_end" not in meta
    assert meta["slack_delivery"] == "not posted" and slack_server.files == []
    stored = stored_report(database, "weekly_cost_report", date(2026, 6, 1))
    assert stored.verdict == "no data" and stored.cost is None
    assert "Spend: no data" in stored.report_markdown and "Forecast: unknown" in stored.report_markdown
    assert set(weekly_table(database, date(2026, 6, 1)).values()) == {(None, 0, None)}


def test_the_latest_week_is_posted_once_by_default(database, slack_server, at):
    at(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))  # a Wednesday: the latest complete week began Monday 1 June
    latest = defs().get_repository_def().asset_graph.get(dg.AssetKey("weekly_cost_report"))
    week = last_complete_partition(latest.partitions_def)
    assert week == "2026-06-01"
    insert_costs(database, [(local(week, "10:00:00"), "llama-2-7b", 1.0, 1.0, False)])
    resources = make_resources(database, slack=slack_server)
    first = run_partition("weekly_cost_report_job", week, resources)
    again = run_partition("weekly_cost_report_job", week, resources)
    assert metadata(first, "weekly_cost_report")["slack_delivery"] == "delivered"
    assert metadata(again, "weekly_cost_report")["slack_delivery"] == "duplicate"
    assert len(slack_server.files) == 1


def test_monthly_report_equals_the_guides_sql_and_plans_when_over_budget(database, monkeypatch, slack_server):
    monkeypatch.setenv("VAST_PIPELINES_TIMEZONE", KOLKATA)
    at = lambda day, time="12:00:00": local(day, time, KOLKATA)  # noqa: E731
    rows = [
        (at("2026-01-31", "23:59:59"), "llama-3-70b", 40.0, 30.0, False),  # January
        (at("2026-02-01", "00:00:00"), "llama-3-70b", 60.0, 30.0, True),  # exactly at the month start
        (at("2026-02-10"), "llama-3-70b", 50.0, 20.0, False),
        (at("2026-02-14"), "llama-2-7b", 30.0, 1.0, False),
        (at("2026-02-14", "13:00:00"), "llama-2-7b", None, 1.0, False),  # no cost
        (at("2026-02-28", "23:59:59"), "llama-2-7b", 40.123, 1.0, True),
        (at("2026-03-01", "00:00:00"), "llama-3-70b", 99.0, 30.0, False),  # March
    ]
    insert_costs(database, rows)
    resources = make_resources(database, timezone=KOLKATA, slack=slack_server)
    result = run_partition("monthly_cost_report_job", "2026-02-01", resources, post("monthly_cost_report", True))
    assert result.success

    [(guide_cost, guide_requests, guide_per_request)] = guide_between(
        database, "monthly_review", KOLKATA, at("2026-02-01", "00:00:00"), at("2026-03-01", "00:00:00")
    )
    meta = metadata(result, "monthly_cost_report")
    stored = stored_report(database, "monthly_cost_report", date(2026, 2, 1))
    assert (round_money(stored.cost, 2), stored.requests, round_money(stored.cost_per_request, 5)) == (
        guide_cost,
        guide_requests,
        guide_per_request,
    )
    # Rounded as the guide's SQL rounds: ROUND(SUM(cost), 2) and ROUND(SUM(cost) / COUNT(*), 5).
    assert meta["monthly_cost"] == 180.12 and meta["total_requests"] == 5
    assert meta["avg_cost_per_request"] == 36.0246
    assert meta["budget_verdict"] == "over budget" and stored.verdict == "over budget"
    budget = checks(result)["monthly_budget"]
    assert budget.passed is False and budget.severity == dg.AssetCheckSeverity.ERROR

    plan = {r.data["action"]: r.data for r in meta["recommendations"].records}
    assert list(plan) == ["implement_batching", "add_caching", "use_cheaper_gpu", "quantize_models"]
    assert plan["implement_batching"]["estimated_saving_usd"] == 144.10  # 0.8 × $180.123, to the cent
    assert plan["add_caching"]["estimated_saving_usd"] == 90.06
    models = {m["model"]: m for m in stored.figures["models"]}
    assert models["llama-3-70b"]["totals"]["requests"] == 2 and models["llama-2-7b"]["totals"]["requests"] == 3

    [upload] = slack_server.files
    assert upload["filename"] == "monthly-cost-report-2026-02-01.png" and upload["content"].startswith(b"\x89PNG")
    text = upload["initial_comment"]
    assert "Monthly cost review: February 2026" in text and "monthly_cost $180.12" in text
    assert "❌ Over budget" in text and "Implement batching" in text and "saves about $144.10" in text
    assert "vs the previous month: $40.00" in text and "reached the $100.00 target on 2026-02-10" in text


def test_an_acceptable_month_warns_and_has_no_plan(database):
    insert_costs(database, [(local("2026-04-15", "10:00:00"), "llama-2-7b", 120.0, 1.0, False)])
    result = run_partition("monthly_cost_report_job", "2026-04-01", make_resources(database))
    meta = metadata(result, "monthly_cost_report")
    assert meta["budget_verdict"] == "acceptable" and meta["recommendations"].records == []
    budget = checks(result)["monthly_budget"]
    assert budget.passed is False and budget.severity == dg.AssetCheckSeverity.WARN


def test_an_empty_month_is_no_data_not_on_target(database):
    result = run_partition("monthly_cost_report_job", "2026-04-01", make_resources(database))
    meta = metadata(result, "monthly_cost_report")
    assert meta["budget_verdict"] == "no data" and meta["total_requests"] == 0 and "monthly_cost" not in meta
    assert checks(result)["monthly_budget"].passed is False


def test_review_schedules_run_after_the_period_ends():
    repository = defs().get_repository_def()
    weekly = repository.get_schedule_def("weekly_cost_report_schedule")
    monthly = repository.get_schedule_def("monthly_cost_report_schedule")
    assert weekly.cron_schedule == "0 9 * * 1" and monthly.cron_schedule == "0 9 1 * *"
    assert weekly.default_status == monthly.default_status == dg.DefaultScheduleStatus.RUNNING
