"""The fault suite, part two: bad data and bad configuration never switch the protection off, or pull the trigger.

Each case is a hostile operator's: one bad row, one typo in a variable, one odd column type. The outcome asserted
is exact: what the tick, the report or the loader says, and what it did (or refused to do).
"""

import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from vast_pipelines.config import ConfigurationError, validate_environment
from vast_pipelines.defs.alerts.budget import BUDGET_STATUS_TAG
from vast_pipelines.defs.guards import CannotJudge
from vast_pipelines.errors import OperatorError
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine, tick_limits
from vast_pipelines.store.errors import DatabaseBadData, DatabaseBusy, DatabaseLoginFailed, DatabasePermissionDenied
from vast_pipelines_tests.conftest import (
    REPO,
    _libpq,
    closed_port_url,
    dagster_process,
    evaluate_sensor,
    insert_costs,
    make_resources,
    tick_and_launch,
)
from vast_pipelines_tests.cost_runs import run_partition
from vast_pipelines_tests.test_faults import run

pytestmark = pytest.mark.faults

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
TODAY = NOW - timedelta(hours=1)


def add_rows(database: AnalyticsDatabase, *rows: tuple[datetime, str, str, str]) -> None:
    """Rows with SQL literals for cost and duration (``'NaN'``, ``'Infinity'``, ``1e400``), as a buggy writer
    would store them."""
    with database.begin() as conn:
        for at, model, cost, duration in rows:
            conn.execute(
                sa.text(
                    'INSERT INTO vast_ai_costs ("timestamp", model, cost, duration, cold_start) '
                    f"VALUES (:t, :m, {cost}, {duration}, false)"
                ),
                {"t": at, "m": model},
            )


def cost_column(database: AnalyticsDatabase, type_: str) -> None:
    with database.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE vast_ai_costs ALTER COLUMN cost TYPE {type_}"))


def tick(name: str, database: AnalyticsDatabase, instance, **kwargs):
    return evaluate_sensor(name, make_resources(database, **kwargs), instance)


def budget_status(result) -> str:
    """What the budget tick saw: its skip line, or, when it requested a delivery run, the status that run carries."""
    if result.run_requests:
        [request] = result.run_requests
        return request.tags[BUDGET_STATUS_TAG]
    return result.skip_message


# --- cost rows ----------------------------------------------------------------------------------------


def test_a_credit_of_minus_100_does_not_hide_60_dollars_of_real_spend(database, instance, at):
    at(NOW)
    insert_costs(database, [(TODAY, "llama-3-70b", 60.0, 30.0, False), (TODAY, "llama-3-70b", -100.0, 1.0, False)])
    result = tick("runaway_cost_sensor", database, instance)
    [request] = result.run_requests
    assert request.run_key == "runaway:2026-03-14"
    assert request.tags["vast_pipelines/today_spend"] == "60.00"
    budget = budget_status(tick("budget_alert_sensor", database, instance))
    assert "Month-to-date $60.00" in budget
    assert "1 request(s) this month have a negative cost (credits, $-100.00 in total)" in budget


@pytest.mark.parametrize("column", ["numeric", "double precision"])
def test_a_nan_cost_is_not_money_and_is_named_in_the_tick(database, instance, at, column):
    at(NOW)
    cost_column(database, column)
    add_rows(database, (TODAY, "llama-3-70b", "10", "1"), (TODAY, "llama-3-70b", "'NaN'", "1"))
    result = tick("runaway_cost_sensor", database, instance)
    assert result.run_requests == []
    assert result.skip_message.startswith("Today $10.00 (2 requests; runaway over $50.00/day)")
    assert "1 request(s) this month have a cost that is not a finite number" in result.skip_message
    assert "nan" not in result.skip_message.lower().replace("(nan,", "")


def test_a_nan_day_rolled_up_stores_no_nan_and_the_budget_sensor_keeps_ticking(database, instance, at):
    at(NOW)
    yesterday = datetime(2026, 3, 13, tzinfo=UTC)
    add_rows(database, (yesterday + timedelta(hours=3), "llama-3-70b", "'NaN'", "1"))
    add_rows(database, (yesterday + timedelta(hours=4), "llama-3-70b", "70", "1"))
    database.cost_history.refresh_day(
        day=yesterday.date(),
        window_start=yesterday,
        window_end=NOW.replace(hour=0),
        timezone="UTC",
        run_id=None,
    )
    with database.begin() as conn:
        stored = conn.execute(
            sa.text("SELECT cost::text, invalid_cost_requests FROM vast_pipelines.daily_cost_history")
        ).one()
    assert stored == ("70", 1)
    status = budget_status(tick("budget_alert_sensor", database, instance))
    assert "Month-to-date $70.00; levels crossed: info" in status
    assert "not a finite number" in status


def test_today_with_rows_the_checks_cannot_count_alerts_once_a_day(database, slack_server, instance, at):
    at(NOW)
    add_rows(database, (TODAY, "llama-3-70b", "'NaN'", "1"), (TODAY, "llama-3-70b", "NULL", "1"))
    add_rows(database, (TODAY, "llama-3-70b", "2", "1"))
    resources = make_resources(database, slack=slack_server)
    first = tick_and_launch("budget_alert_sensor", resources, instance)
    again = tick_and_launch("budget_alert_sensor", resources, instance, first.cursor)
    restarted = tick_and_launch("budget_alert_sensor", resources, instance)  # a restarted daemon (no cursor) neither
    [message] = slack_server.messages
    assert message["channel"] == "#platform-alerts"
    assert "2 of today's 3 requests (2026-03-14) carry no usable cost: 1 NULL, 1 not a finite number" in message["text"]
    [request] = first.run_requests
    assert request.tags["vast_pipelines/alert"] == "uncounted_costs"
    assert not again.run_requests and not restarted.run_requests


@pytest.mark.parametrize(
    ("column", "literal"),
    [("numeric", "'Infinity'"), ("numeric", "1e400"), ("double precision", "'Infinity'"), ("numeric", "'-Infinity'")],
)
def test_an_infinite_cost_never_starts_an_emergency(database, instance, at, column, literal):
    at(NOW)
    cost_column(database, column)
    add_rows(database, (TODAY, "llama-3-70b", literal, "1"), (TODAY, "llama-3-70b", "1.5", "1"))
    result = tick("runaway_cost_sensor", database, instance)
    assert result.run_requests == []
    assert "Today $1.50" in result.skip_message and "month-to-date $1.50" in result.skip_message
    assert "1 request(s) this month have a cost that is not a finite number" in result.skip_message


def test_nan_and_infinite_durations_keep_the_morning_check_green_and_its_json_valid(database, instance, at):
    at(NOW)
    add_rows(
        database,
        (TODAY, "llama-3-70b", "0.5", "'NaN'"),
        (TODAY, "llama-3-70b", "0.5", "'Infinity'"),
        (TODAY, "llama-3-70b", "0.5", "2"),
    )
    result = run("daily_health_check", make_resources(database), instance)
    assert result.success
    metadata = {
        str(e.asset_key.path[-1]): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    assert metadata["latency_percentiles"]["p50_sec"] == pytest.approx(2.0)
    figures = [v for values in metadata.values() for v in values.values() if isinstance(v, float)]
    assert figures and all(math.isfinite(v) for v in figures)
    with database.begin() as conn:  # the stored figures are valid JSON without NaN
        stored = conn.execute(sa.text("SELECT figures::text FROM vast_pipelines.cost_reports")).scalars().all()
    assert stored and not any("NaN" in f or "Infinity" in f for f in stored)


def test_a_day_whose_costs_are_all_null_is_no_data_never_excellent(database, instance, at):
    at(NOW)
    insert_costs(database, [(TODAY, "llama-3-70b", None, 1.0, False), (TODAY, "llama-3-70b", None, 1.0, False)])
    result = run("daily_health_check", make_resources(database), instance)
    assert result.success
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "daily_spend_band"]
    assert not check.passed and check.metadata["verdict"].value == "no data"
    with database.begin() as conn:
        report = conn.execute(sa.text("SELECT report_markdown FROM vast_pipelines.health_checks")).scalar_one()
    assert "Yesterday's Spend: no data (no request with a cost) (last 24 h, 2 requests)" in report
    assert "Excellent" not in report
    budget = budget_status(tick("budget_alert_sensor", database, instance))
    assert "No data: none of this month's 2 logged requests carries a cost" in budget
    runaway = tick("runaway_cost_sensor", database, instance)
    assert runaway.skip_message.startswith("Today no data (no request with a cost) (2 requests;")
    assert (
        "month-to-date no data (no request with a cost)" in runaway.skip_message and "$0.00" not in runaway.skip_message
    )


def test_a_rolled_up_day_whose_costs_are_null_or_nan_is_no_data_in_the_daily_cost_band(database):
    day = datetime(2026, 3, 13, 12, tzinfo=UTC)
    add_rows(database, (day, "llama-3-70b", "NULL", "1"), (day, "llama-3-70b", "'NaN'", "1"))
    result = run_partition("daily_cost_history_job", "2026-03-13", make_resources(database))
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "daily_cost_band" and not check.passed
    assert check.metadata["verdict"].value == "no data"
    [event] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert "daily_cost" not in meta and (meta["null_cost_requests"], meta["invalid_cost_requests"]) == (1, 1)
    assert "1 request(s) with a cost that is not a finite number" in meta["report"]


# --- the schema ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alter", "said"),
    [
        ("ALTER COLUMN cost TYPE text", "cost is text (expected cost numeric)"),
        (
            'ALTER COLUMN "timestamp" TYPE timestamp',
            "timestamp is timestamp without time zone (expected timestamp timestamptz)",
        ),
    ],
)
def test_a_wrong_column_type_fails_the_protection_tick_naming_the_type_expected(database, instance, at, alter, said):
    at(NOW)
    with database.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE vast_ai_costs {alter}"))
    for sensor in ("runaway_cost_sensor", "budget_alert_sensor"):
        with pytest.raises(CannotJudge) as red:
            tick(sensor, database, instance)
        assert said in str(red.value) and "SELECT" not in str(red.value)


def test_cold_start_as_integer_is_named_by_the_readers_of_it_and_the_spend_sensors_keep_judging(database, instance, at):
    at(NOW)
    insert_costs(database, [(TODAY, "llama-3-70b", 62.0, 30.0, False)])
    with database.begin() as conn:
        conn.execute(sa.text("ALTER TABLE vast_ai_costs ALTER COLUMN cold_start TYPE integer USING cold_start::int"))
    result = run("daily_health_check", make_resources(database), instance)
    assert not result.success
    errors = [e.step_failure_data.error for e in result.get_step_failure_events()]
    assert any("cold_start is integer (expected cold_start boolean)" in str(e) for e in errors)
    [request] = tick("runaway_cost_sensor", database, instance).run_requests
    assert request.run_key == "runaway:2026-03-14"


def test_a_dropped_duration_does_not_stop_the_spend_sensors(database, instance, at):
    at(NOW)
    insert_costs(database, [(TODAY, "llama-3-70b", 62.0, 30.0, False)])
    with database.begin() as conn:
        conn.execute(sa.text("ALTER TABLE vast_ai_costs DROP COLUMN duration"))
    [request] = tick("runaway_cost_sensor", database, instance).run_requests
    assert request.run_key == "runaway:2026-03-14"
    assert "levels crossed: info" in budget_status(tick("budget_alert_sensor", database, instance))


def test_a_10_mb_model_name_costs_a_few_hundred_bytes_and_still_groups(database, instance, at):
    at(NOW)
    huge_a, huge_b = "a" * 10_000_000, "a" * 9_999_999 + "b"
    insert_costs(
        database,
        [(TODAY, huge_a, 1.0, 1.0, False), (TODAY, huge_a, 2.0, 1.0, False), (TODAY, huge_b, 4.0, 1.0, False)],
    )
    result = run("daily_health_check", make_resources(database), instance)
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("top_cost_drivers")]
    assert len(json.dumps({k: str(v.value) for k, v in event.materialization.metadata.items()})) < 20_000
    day = datetime(2026, 3, 14, tzinfo=UTC)
    database.cost_history.refresh_day(
        day=day.date(), window_start=day, window_end=day + timedelta(days=1), timezone="UTC", run_id=None
    )
    with database.begin() as conn:
        rows = conn.execute(
            sa.text("SELECT octet_length(model), requests, cost FROM vast_pipelines.daily_cost_history ORDER BY cost")
        ).all()
    assert [(r[1], float(r[2])) for r in rows] == [(2, 3.0), (1, 4.0)]  # two models, not one
    assert all(r[0] <= 300 for r in rows)


# --- database URL and errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("host=timescaledb port=5433 user=bluefly password=hunter2 dbname=analytics", "libpq key=value string"),
        ("mysql://bluefly:hunter2@db/analytics", "is not a PostgreSQL/TimescaleDB URL"),
        ("postgresql://bluefly:hunter2@db:54x3/analytics", "cannot be parsed (is the port a number?)"),
        ("postgresql://bluefly:hunter2@db:99999/analytics", "port 99999 is not between 1 and 65535"),
        ("postgresql://bluefly:hun@ter2@db:5433/analytics", "holds an unquoted @, : or /"),
    ],
)
def test_a_bad_timescale_url_refuses_to_load_naming_it_and_never_its_password(url, said):
    with pytest.raises(ConfigurationError) as refused:
        validate_environment({"TIMESCALE_URL": url})
    message = str(refused.value)
    assert "TIMESCALE_URL" in message and said in message
    assert "hunter2" not in message and "ter2" not in message and "hun@" not in message
    with pytest.raises(OperatorError) as at_run:  # a resource given the URL directly says the same
        AnalyticsDatabase(url=url).check_cost_table()
    assert said in str(at_run.value) and "hunter2" not in str(at_run.value) and "ter2" not in str(at_run.value)


def test_a_lock_held_for_minutes_fails_the_tick_within_seconds_as_a_timeout(
    database, fresh_database_url, instance, at, statement_timeouts
):
    at(NOW)
    database.check_cost_table()
    with psycopg.connect(_libpq(fresh_database_url)) as blocker:
        blocker.execute("LOCK TABLE vast_ai_costs IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(CannotJudge) as red:
            tick("runaway_cost_sensor", database, instance)
        took = time.monotonic() - started
        blocker.rollback()
    assert "did not answer in time" in str(red.value) and "lock timeout" in str(red.value)
    assert "Cannot reach" not in str(red.value)
    assert took < 20  # Dagster kills a sensor tick at 60 s


def test_an_index_row_too_large_is_bad_data_not_an_unreachable_database(database):
    with database.begin() as conn:
        conn.execute(sa.text("CREATE TABLE big_keys (k text PRIMARY KEY)"))
    with pytest.raises(DatabaseBadData) as bad, database.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO big_keys VALUES ((SELECT string_agg(md5(i::text), '') FROM generate_series(1, 9000) i))"
            )
        )
    assert "refused a value" in str(bad.value) and "Cannot reach" not in str(bad.value)
    with pytest.raises(DatabaseBadData) as echoed, database.begin() as conn:  # the server quotes a 1 MB value
        conn.execute(sa.text("SELECT CAST(repeat('x', 1000000) AS integer)"))
    assert "invalid input syntax for type integer" in str(echoed.value) and len(str(echoed.value)) < 1000


def test_an_unknown_user_is_a_refused_login_naming_timescale_url(fresh_database_url):
    url = make_url(fresh_database_url).set(username="nobody", password="pw-SECRET").render_as_string(False)
    database = AnalyticsDatabase(url=url, connect_attempts=3)
    started = time.monotonic()
    with pytest.raises(DatabaseLoginFailed) as refused:
        database.check_cost_table()
    assert time.monotonic() - started < 3  # a refused login is not retried
    assert "refused the login" in str(refused.value) and "TIMESCALE_URL" in str(refused.value)
    assert "pw-SECRET" not in str(refused.value)
    dispose_engine(url)


def test_a_user_without_grants_is_told_what_to_grant(database, fresh_database_url, pg_admin_url):
    role = f"reader_{os.getpid()}"
    with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} LOGIN")
    url = make_url(fresh_database_url).set(username=role).render_as_string(False)
    try:
        with pytest.raises(DatabasePermissionDenied) as denied:
            AnalyticsDatabase(url=url, connect_attempts=1).check_cost_table()
        assert "is not allowed to do this" in str(denied.value) and "Grant it SELECT on vast_ai_costs" in str(
            denied.value
        )
    finally:
        dispose_engine(url)
        with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_tick_limits_apply_to_the_statements_of_a_tick_only(database, statement_timeouts):
    with tick_limits(statement_seconds=2, lock_seconds=1), database.begin() as conn:
        inside = (
            conn.execute(sa.text("SHOW statement_timeout")).scalar_one(),
            conn.execute(sa.text("SHOW lock_timeout")).scalar_one(),
        )
    with database.begin() as conn:
        outside = conn.execute(sa.text("SHOW statement_timeout")).scalar_one()
    assert inside == ("2s", "1s") and outside == "2min"
    with pytest.raises(DatabaseBusy), tick_limits(statement_seconds=1), database.begin() as conn:
        conn.execute(sa.text("SELECT pg_sleep(3)"))


# --- thresholds and switches -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("VAST_PIPELINES_THRESHOLDS", "runaway_daily=-1", "runaway_daily=-1 must be above 0"),
        ("VAST_PIPELINES_THRESHOLDS", "hard_cap=0", "hard_cap=0 must be above 0"),
        ("VAST_PIPELINES_THRESHOLDS", "runaway_daily=nan", "runaway_daily=nan must be a finite number"),
        ("VAST_PIPELINES_THRESHOLDS", "runaway_daily=inf", "runaway_daily=inf must be a finite number"),
        (
            "VAST_PIPELINES_THRESHOLDS",
            "alert_info=200,alert_warning=150,alert_critical=100,alert_emergency=50",
            "alert_info=200 and alert_warning=150 must be alert_info below alert_warning",
        ),
        (
            "VAST_PIPELINES_THRESHOLDS",
            "runaway_daily=500",
            "runaway_daily=500 and hard_cap=200 must be runaway_daily (a day) at most hard_cap (a month)",
        ),
        ("VAST_PIPELINES_THRESHOLDS", "hard_cap=abc", "'hard_cap=abc' is not name=number"),
        ("VAST_PIPELINES_THRESHOLDS", "hardcap=300", "names unknown threshold(s) hardcap"),
        ("VAST_EMERGENCY_ACTIONS", "yes", "VAST_EMERGENCY_ACTIONS='yes' is neither 'apply' nor 'dry-run'"),
        ("VAST_EMERGENCY_ACTIONS", "dry_run", "VAST_EMERGENCY_ACTIONS='dry_run' is neither 'apply' nor 'dry-run'"),
        ("VAST_EMERGENCY_SHUTDOWN", "destroy", "VAST_EMERGENCY_SHUTDOWN='destroy' is neither 'stop' nor 'delete'"),
        ("VAST_PIPELINES_TIMEZONE", "Mars/Olympus", "is not an IANA time zone"),
        ("VLLM_URL", "vastai-gpu:8000", "VLLM_URL='vastai-gpu:8000' is not an http(s):// URL"),
    ],
)
def test_a_bad_setting_refuses_to_load_with_the_variable_the_value_and_an_example(variable, value, said):
    with pytest.raises(ConfigurationError) as refused:
        validate_environment({variable: value})
    message = str(refused.value)
    assert said in message and variable in message and ("Example" in message or "e.g." in message)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VAST_EMERGENCY_ACTIONS", "APPLY"), ("VAST_EMERGENCY_ACTIONS", "Dry-Run"), ("VAST_EMERGENCY_SHUTDOWN", "Delete")],
)
def test_switches_accept_any_case_and_nothing_else(variable, value):
    validate_environment({variable: value})


def test_a_bad_threshold_given_at_run_time_fails_the_tick_red_and_starts_nothing(database, instance, at):
    """A resource configured in code (not from the environment) is checked when a tick reads it."""
    at(NOW)
    for bad in ("runaway_daily=-1", "hard_cap=0", "runaway_daily=nan"):
        with pytest.raises(CannotJudge, match="VAST_PIPELINES_THRESHOLDS"):
            tick("runaway_cost_sensor", database, instance, thresholds=bad)


def test_dagster_definitions_validate_shows_every_bad_variable_in_one_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAST_", "SLACK_", "TIMESCALE", "SMTP_"))}
    command = [str(REPO / ".venv" / "bin" / "dagster"), "definitions", "validate", "-m", "vast_pipelines.definitions"]
    if not os.path.exists(command[0]):
        command[0] = os.path.join(os.path.dirname(sys.executable), "dagster")
    bad = {
        **env,
        "VAST_PIPELINES_THRESHOLDS": "hard_cap=0",
        "VAST_EMERGENCY_ACTIONS": "yes",
        "TIMESCALE_URL": "postgresql://bluefly:s3cr@t@db:5433/analytics",
        "DAGSTER_HOME": str(tmp_path),
    }
    refused = subprocess.run(command, cwd=REPO, env=bad, capture_output=True, text=True, timeout=300)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "vast_pipelines will not load with this configuration" in output
    assert "hard_cap=0 must be above 0" in output and "VAST_EMERGENCY_ACTIONS='yes'" in output
    assert "TIMESCALE_URL=postgresql://bluefly:***@db:5433/analytics" in output
    assert "s3cr" not in output
    good = {**env, "VAST_PIPELINES_THRESHOLDS": "hard_cap=300,runaway_daily=80", "DAGSTER_HOME": str(tmp_path)}
    accepted = subprocess.run(command, cwd=REPO, env=good, capture_output=True, text=True, timeout=300)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_dagster_dev_shows_the_refusal_on_the_code_location(tmp_path, embedded_home):
    port = int(closed_port_url().rsplit(":", 1)[1])
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "VAST_PIPELINES_HOME": str(embedded_home),
        "VAST_EMERGENCY_SHUTDOWN": "destroy",
        "VAST_PIPELINES_THRESHOLDS": "runaway_daily=inf",
    }
    command = ["dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")]
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name
        locationOrLoadError { __typename ... on PythonError { message causes { message } } } } } } }"""
    with dagster_process(command, env, tmp_path / "dagster-dev.log"):
        deadline, entries = time.monotonic() + 120, []
        while time.monotonic() < deadline:
            try:
                body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=5).json()
                entries = body["data"]["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]:
                    break
            except (httpx.TransportError, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
    [entry] = entries
    error = entry["locationOrLoadError"]
    assert error["__typename"] == "PythonError"
    shown = "\n".join([error["message"], *(c["message"] for c in error["causes"])])
    assert "vast_pipelines will not load with this configuration" in shown
    assert "VAST_EMERGENCY_SHUTDOWN='destroy' is neither 'stop' nor 'delete'" in shown
    assert "runaway_daily=inf must be a finite number" in shown
