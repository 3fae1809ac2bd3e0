"""The insights on real PostgreSQL, with traces whose right answer is known by hand."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from vast_pipelines.defs.health.assets import yesterday_spend
from vast_pipelines.defs.insights.anomalies import cost_anomalies
from vast_pipelines.defs.insights.freshness import cost_data_freshness
from vast_pipelines.defs.insights.idle_timeout import idle_timeout_what_if
from vast_pipelines.defs.insights.reconciliation import billing_reconciliation
from vast_pipelines_tests.conftest import (
    SLACK_TOKEN,
    VAST_KEY,
    insert_costs,
    make_resources,
    tick_and_launch,
)
from vast_pipelines_tests.cost_runs import run_partition
from vast_pipelines_tests.jobs import run_job
from vast_pipelines_tests.test_health_check import checks, metadata

# A Wednesday afternoon.
NOW = datetime(2026, 3, 25, 14, 30, tzinfo=UTC)


def busy_weeks(database, now: datetime, silent_for: timedelta, weeks: int = 4) -> None:
    """A request every 10 minutes, 08:00-20:00 every day of the last ``weeks`` weeks, until ``now - silent_for``."""
    rows = []
    moment = (now - timedelta(weeks=weeks)).replace(hour=8, minute=0)
    while moment < now - silent_for:
        if 8 <= moment.hour < 20:
            rows.append((moment, "llama-2-7b", 0.01, 1.0, False))
        moment += timedelta(minutes=10)
    insert_costs(database, rows)


def episodes(database) -> list[tuple[str, str, bool]]:
    with database.begin() as conn:
        rows = conn.execute(
            sa.text("SELECT kind, subject, closed_at IS NULL AS open FROM vast_pipelines.alert_episodes ORDER BY id")
        )
        return [(r.kind, r.subject, r.open) for r in rows]


# --- 1. No data is not $0 ---------------------------------------------------------------------------


def test_a_silent_table_in_busy_hours_alerts_once_per_episode_and_says_when_it_is_back(
    database, slack_server, smtp_server, instance, at
):
    at(NOW)
    busy_weeks(database, NOW, silent_for=timedelta(hours=3))
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)

    first = tick_and_launch("cost_freshness_sensor", resources, instance)
    again = tick_and_launch("cost_freshness_sensor", resources, instance)
    [request] = first.run_requests  # the tick opened the episode; a deliver_alerts run sent it
    assert request.tags["vast_pipelines/alert"] == "stale_cost_data"
    assert "unknown — cost data stale since 2026-03-25 11:20 UTC" in again.skip_message
    assert "alerted when the episode opened" in again.skip_message
    assert len(slack_server.messages) == 1 and len(smtp_server.messages) == 1
    text = slack_server.messages[0]["text"]
    assert "cost data is stale" in text and "no request logged for 3 h 10 min" in text
    assert slack_server.messages[0]["channel"] == "#platform-alerts"
    assert episodes(database) == [("stale_cost_data", "vast_ai_costs", True)]

    insert_costs(database, [(NOW - timedelta(minutes=1), "llama-2-7b", 0.01, 1.0, False)])
    back = tick_and_launch("cost_freshness_sensor", resources, instance)
    assert len(back.run_requests) == 1 and len(slack_server.messages) == 2
    assert tick_and_launch("cost_freshness_sensor", resources, instance).skip_message.startswith("Cost data fresh")
    assert "logged again" in slack_server.messages[1]["text"]
    assert episodes(database) == [("stale_cost_data", "vast_ai_costs", False)]
    assert not any(SLACK_TOKEN in m["text"] for m in slack_server.messages)


def test_a_quiet_night_that_is_quiet_every_week_is_not_stale(database, slack_server, instance, at):
    night = NOW.replace(hour=23)
    at(night)
    busy_weeks(database, night, silent_for=timedelta(0))  # the last request at 19:50, as every night
    tick = tick_and_launch("cost_freshness_sensor", make_resources(database, slack=slack_server), instance)
    assert "same hours of past weeks were quiet too" in tick.skip_message
    assert slack_server.messages == [] and episodes(database) == []


def test_the_freshness_check_fails_on_stale_data(database, at):
    at(NOW)
    busy_weeks(database, NOW, silent_for=timedelta(hours=3))
    result = dg.materialize([cost_data_freshness], resources=make_resources(database))
    check = checks(result)["cost_data_fresh"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    meta = metadata(result, "cost_data_freshness")
    assert meta["stale"] is True and meta["minutes_since_last_request"] == pytest.approx(190)


def test_the_budget_sensor_never_says_on_track_from_a_silent_table(database, slack_server, smtp_server, instance, at):
    at(NOW)
    busy_weeks(database, NOW, silent_for=timedelta(hours=3))
    insert_costs(database, [(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "llama-3-70b", 55.0, 20.0, False)])
    resources = make_resources(database, slack=slack_server)
    first = tick_and_launch("budget_alert_sensor", resources, instance)
    tick = tick_and_launch("budget_alert_sensor", resources, instance, first.cursor)
    assert "Budget verdict unknown — cost data stale since 2026-03-25 11:20 UTC" in tick.skip_message
    # The $50 level is crossed whatever was not logged; it is alerted, but not as "on track".
    [alert] = slack_server.messages
    assert "*Vast.ai budget INFO*" in alert["text"] and "unknown — cost data stale since" in alert["text"]
    assert "on track" not in alert["text"].lower()


def test_the_daily_report_is_unknown_while_cost_data_is_stale(database, at):
    now = datetime(2026, 3, 25, 22, 40, tzinfo=UTC)  # after the busy hours: the same hours of past weeks
    at(now)
    busy_weeks(database, now, silent_for=timedelta(hours=3))
    # The same late hours of the last weeks had traffic too, so a silent evening is stale.
    insert_costs(
        database,
        [
            (now - timedelta(weeks=k, minutes=m), "llama-2-7b", 0.01, 1.0, False)
            for k in range(1, 5)
            for m in range(0, 120, 10)
        ],
    )
    result = dg.materialize([yesterday_spend], resources=make_resources(database))
    meta = metadata(result, "yesterday_spend")
    assert meta["daily_verdict"].startswith("unknown — cost data stale since")
    assert "Budget verdict unknown — cost data stale since" in meta["report"]
    check = checks(result)["daily_spend_band"]
    assert not check.passed and check.metadata["verdict"].value.startswith("unknown")


# --- 2. Idle-timeout what-if ------------------------------------------------------------------------


def test_what_if_on_requests_every_4_minutes_recommends_5_minutes_as_a_ready_update_worker(database, vast_server, at):
    at(NOW)
    start = NOW - timedelta(hours=20)
    insert_costs(
        database,
        [(start + timedelta(minutes=4 * i), "meta-llama/Llama-3-8b", 0.002, 1.0, i == 0) for i in range(250)],
    )
    vast_server.add_endpoint("llama-3-8b", inactivity_timeout=600, dph_total=0.40)
    result = dg.materialize(
        [idle_timeout_what_if],
        resources=make_resources(database, vast=vast_server),
        run_config={"ops": {"idle_timeout_what_if": {"config": {"days": 1}}}},
    )
    meta = metadata(result, "idle_timeout_what_if")
    report = meta["report"]
    assert meta["requests_replayed"] == 250 and meta["max_model_error"] == 0.0
    assert "$0.40/GPU-hour (the Vast.ai endpoint's price)" in report
    assert "predicted cold-start rate 0%, logged 0%, error +0.0 points" in report
    assert "**Recommended: idle_timeout 300 s**" in report
    # Scale to zero through the one mapping: min_load 0 with the inactivity_timeout, said in words first.
    assert "endpoint: llama-3-8b\nmin_load: 0.0\ninactivity_timeout: 300" in report
    assert "min_workers=0 → min_load=0: scale to zero active workers after 300 s" in report
    assert "/jobs/update_worker/playground/setup?config=" in report
    # A day of one warm worker at $0.40/h is $9.60; 600 s → 300 s saves 5 minutes of warm tail.
    assert meta["savings_usd"] == pytest.approx(300 / 3600 * 0.40)
    assert VAST_KEY not in report and "endpoint-secret" not in report
    with database.begin() as conn:
        grid = {
            (r.idle_timeout, r.min_workers): (r.cold_starts, r.cold_start_rate, r.recommended)
            for r in conn.execute(sa.text("SELECT * FROM vast_pipelines.idle_timeout_what_if"))
        }
    assert grid[(300, 0)] == (0, 0.0, True) and grid[(180, 0)] == (249, 1.0, False)
    assert grid[(60, 1)][:2] == (0, 0.0) and len(grid) == 9


def test_what_if_without_vast_assumes_the_guides_setting_and_prices_from_the_log(database, at):
    at(NOW)
    insert_costs(database, [(NOW - timedelta(minutes=2 * i), "qwen", 0.001, 3.6, False) for i in range(1, 200)])
    result = dg.materialize([idle_timeout_what_if], resources=make_resources(database))
    report = metadata(result, "idle_timeout_what_if")["report"]
    assert "VAST_API_KEY is not set" in report and "logged cost per busy GPU-hour" in report
    # $0.001 per 3.6 s of GPU is $1.00 per busy hour. Requests 2 min apart stay warm at 120 s: cheaper than
    # the guide's 300 s, which is assumed to be the current setting (no endpoint named qwen).
    assert "$1.00/GPU-hour" in report and "**Recommended: idle_timeout 120 s**" in report
    assert "endpoint: qwen\nmin_load: 0.0\ninactivity_timeout: 120" in report
    assert "No endpoint named `qwen` on Vast.ai" in report


def test_what_if_keeps_a_worker_warm_with_min_load_sized_from_its_measured_perf(database, vast_server, at):
    at(NOW)
    start = NOW - timedelta(hours=20)
    # A request every 40 minutes: every idle timeout up to 30 min makes each one a cold start, so only an
    # always-warm worker keeps the cold-start rate within 0.2.
    insert_costs(
        database, [(start + timedelta(minutes=40 * i), "meta-llama/Llama-3-8b", 0.01, 2.0, True) for i in range(30)]
    )
    endpoint_id = vast_server.add_endpoint("llama-3-8b", inactivity_timeout=300, dph_total=0.40, cold_workers=5)
    vast_server.workers[endpoint_id] = [{"id": 7, "status": "stopped", "measured_perf": 312.5}]
    result = dg.materialize(
        [idle_timeout_what_if],
        resources=make_resources(database, vast=vast_server),
        run_config={"ops": {"idle_timeout_what_if": {"config": {"days": 1}}}},
    )
    report = metadata(result, "idle_timeout_what_if")["report"]
    assert "**Recommended: min_workers 1**" in report
    # Warm means active: min_load of the worker's measured perf; cold_workers (5 already) would not do it.
    assert "endpoint: llama-3-8b\nmin_load: 312.5\n```" in report
    assert "min_workers=1 → min_load=312.5: keep 1 worker(s) active (1 × measured perf 312.5 perf units/s)" in report
    assert "cold_workers" not in report.split("```yaml")[-1]


# --- 3. Cost anomalies ------------------------------------------------------------------------------


def anomaly_traffic(database) -> None:
    """Four ordinary Wednesdays, then today: 4x the requests by the morning, 10x the cost per request this hour."""
    rows = []
    for k, usual in zip(range(1, 5), (4.0, 4.2, 3.9, 4.1), strict=True):
        day = NOW - timedelta(weeks=k)
        rows += [(day.replace(hour=10, minute=i), "llama-3-70b", usual / 10, 5.0, False) for i in range(10)]
        rows += [(day.replace(hour=14, minute=5 + i), "llama-3-70b", 0.5, 5.0, False) for i in range(2)]
    rows += [(NOW.replace(hour=10, minute=i), "llama-3-70b", 0.5, 5.0, False) for i in range(40)]
    rows += [(NOW.replace(hour=14, minute=5 + i), "llama-3-70b", 5.0, 5.0, False) for i in range(2)]
    insert_costs(database, rows)


def test_anomalies_name_the_model_and_driver_and_alert_once_per_episode(
    database, slack_server, smtp_server, instance, at
):
    at(NOW)
    anomaly_traffic(database)
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)
    result = dg.materialize([cost_anomalies], resources=resources)
    meta = metadata(result, "cost_anomalies")
    assert meta["anomalies"] == 2
    assert {(f["scope"], f["driver"]) for f in meta["flagged"]} == {
        ("today", "requests up"),
        ("this hour", "cost per request up"),
    }

    for _ in range(2):
        tick_and_launch("cost_anomaly_sensor", resources, instance)
    texts = sorted(m["text"] for m in slack_server.messages)
    assert len(texts) == 2 and len(smtp_server.messages) == 2
    assert "*Cost anomaly* llama-3-70b, this hour" in texts[0] and "*cost per request up*" in texts[0]
    assert "*Cost anomaly* llama-3-70b, today" in texts[1] and "$30.00 over 42 requests" in texts[1]
    assert sorted(episodes(database)) == [
        ("cost_anomaly", "this hour:llama-3-70b", True),
        ("cost_anomaly", "today:llama-3-70b", True),
    ]

    at(NOW + timedelta(days=1))  # an ordinary Thursday: the episodes end, nothing more is sent
    tick = tick_and_launch("cost_anomaly_sensor", resources, instance)
    assert "0 anomalies flagged" in tick.skip_message and "ended" in tick.skip_message
    assert [e[2] for e in episodes(database)] == [False, False] and len(slack_server.messages) == 2


# --- 4. Reconciliation with Vast.ai billing ---------------------------------------------------------


def test_reconciliation_warns_on_a_day_the_log_misses_a_share_of_the_bill_and_the_weekly_review_says_so(
    database, vast_server, at
):
    at(datetime(2026, 6, 8, 6, 0, tzinfo=UTC))
    insert_costs(
        database,
        [
            (datetime(2026, 6, 2, 12, tzinfo=UTC), "llama-2-7b", 9.6, 1.0, False),
            (datetime(2026, 6, 3, 12, tzinfo=UTC), "llama-2-7b", 6.0, 1.0, False),
            (datetime(2026, 6, 3, 13, tzinfo=UTC), "llama-2-7b", None, 1.0, False),
        ],
    )
    vast_server.add_charge(date(2026, 6, 2), 10.0)
    vast_server.add_charge(date(2026, 6, 3), 10.0)
    vast_server.add_charge(date(2026, 6, 3), 99.0, kind="volume")
    resources = make_resources(database, vast=vast_server)
    result = dg.materialize([billing_reconciliation], resources=resources)
    check = checks(result)["billing_matches_log"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["diverged_days"].value == "2026-06-03"
    meta = metadata(result, "billing_reconciliation")
    assert meta["billed_usd"] == pytest.approx(20.0) and meta["logged_usd"] == pytest.approx(15.6)
    # The account's credit, read as `vastai show user` reads it.
    assert meta["account_credit_usd"] == 87.5 and "Vast.ai account credit now: $87.50" in meta["report"]
    assert "| 2026-06-03 | $6.00 | $10.00 | $4.00 | 40% | ⚠️ diverged |" in meta["report"]
    with database.begin() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM vast_pipelines.billing_reconciliation WHERE day = '2026-06-03'")
        ).one()
    assert (float(row.logged), row.requests, row.null_cost_requests, row.diverged) == (6.0, 2, 1, True)

    review = run_partition("weekly_cost_report_job", "2026-06-01", resources)
    text = metadata(review, "weekly_cost_report")["report"]
    assert "Beyond the runbook:" in text
    assert "Vast.ai billed $10.00 on 2026-06-03, logged $6.00 (40% of the bill)" in text


def test_reconciliation_without_a_vast_key_is_unknown_not_matching(database, at):
    at(datetime(2026, 6, 8, 6, 0, tzinfo=UTC))
    result = dg.materialize([billing_reconciliation], resources=make_resources(database))
    check = checks(result)["billing_matches_log"]
    assert not check.passed and "VAST_API_KEY" in check.metadata["billing"].value
    assert "billed_usd" not in metadata(result, "billing_reconciliation")


# --- 5. Alert-rule backtest -------------------------------------------------------------------------


def test_backtest_reports_when_each_rule_would_have_fired_and_tries_other_thresholds(database, at):
    at(datetime(2026, 4, 10, 12, 0, tzinfo=UTC))
    insert_costs(
        database,
        [
            (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "llama-3-70b", 30.0, 20.0, False),
            (datetime(2026, 3, 2, 15, 30, 20, tzinfo=UTC), "llama-3-70b", 25.0, 20.0, False),
            (datetime(2026, 3, 20, 9, 0, tzinfo=UTC), "llama-3-70b", 50.0, 20.0, False),
            (datetime(2026, 4, 1, 9, 0, tzinfo=UTC), "llama-3-70b", 10.0, 20.0, False),
        ],
    )
    resources = make_resources(database)
    run = run_job("alert_rule_backtest", resources, {})
    assert run.result.success
    meta = run.metadata("replay_alert_rules")
    assert (meta["firings"], meta["fired_runaway"], meta["fired_budget_info"], meta["fired_budget_warning"]) == (
        3,
        1,
        1,
        1,
    )
    report = meta["report"]
    assert "2026-03-02 15:30 UTC runaway: $55.00 against $50.00 (runaway:2026-03-02)" in report
    assert "2026-03-20 09:00 UTC budget_warning: $105.00 against $100.00" in report

    tuned = run_job(
        "alert_rule_backtest",
        resources,
        {"ops": {"replay_alert_rules": {"config": {"thresholds": "runaway_daily=60"}}}},
    )
    assert "fired_runaway" not in tuned.metadata("replay_alert_rules")
    with database.begin() as conn:
        stored = conn.execute(sa.text("SELECT thresholds, firings FROM vast_pipelines.alert_backtests")).all()
    assert sorted(len(r.firings) for r in stored) == [2, 3]
    assert {r.thresholds["runaway_daily"] for r in stored} == {50.0, 60.0}


def test_the_code_location_has_the_insights(instance):
    from vast_pipelines_tests.conftest import code_location

    repo = code_location().get_repository_def()
    assert {"alert_rule_backtest", "insights_job"} <= set(repo.job_names)
    sensors = {s.name: s for s in repo.sensor_defs}
    for name in ("cost_freshness_sensor", "cost_anomaly_sensor"):
        assert sensors[name].default_status == dg.DefaultSensorStatus.RUNNING
    insights = {n.key.to_user_string() for n in repo.asset_graph.asset_nodes if n.group_name == "insights"}
    assert insights == {"cost_data_freshness", "idle_timeout_what_if", "cost_anomalies", "billing_reconciliation"}
    assert repo.get_schedule_def("insights_schedule").cron_schedule == "15 8 * * *"
    # Freshness and anomalies are kept current by their sensors, not judged again at 08:15.
    job = repo.get_job("insights_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "idle_timeout_what_if",
        "billing_reconciliation",
    }
    assert set(job.graph.node_names()) == {"idle_timeout_what_if", "billing_reconciliation"}
    assert {c.name for c in repo.asset_graph.asset_check_keys} >= {"cost_data_fresh"}
