"""The fault suite: every outside system misbehaving, through the real jobs and sensor ticks.

Each case ends in a clear message naming what to fix, and nothing is lost.
"""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa

from vast_pipelines.definitions import defs
from vast_pipelines.defs.guards import CannotJudge
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource
from vast_pipelines_tests.conftest import (
    VAST_KEY,
    _libpq,
    evaluate_sensor,
    insert_costs,
    make_resources,
    tick_and_launch,
)
from vast_pipelines_tests.fakes import Reply
from vast_pipelines_tests.test_outbox_redelivery import make_due

pytestmark = pytest.mark.faults

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
EMERGENCY = {"ops": {"check_current_spend": {"config": {"reason": "runaway"}}}}


def run(name: str, resources: dict, instance, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def(name)
    return job.execute_in_process(
        instance=instance, resources=resources, run_config=run_config or {}, raise_on_error=False
    )


def failures(result: dg.ExecuteInProcessResult) -> str:
    """Every failed step's error, down to its cause (Dagster wraps what the op raised)."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            messages.append(error.message)
            error = error.cause
    return "\n".join(messages)


def outbox(database: AnalyticsDatabase) -> list[dict]:
    with database.begin() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.text(
                    "SELECT transport, destination, kind, status, last_error, attempts FROM "
                    "vast_pipelines.notification_outbox ORDER BY id"
                )
            ).mappings()
        ]


# --- the analytics database ------------------------------------------------------------------------


def test_database_down_when_a_run_starts_fails_with_what_to_fix(instance):
    down = AnalyticsDatabase(
        url="postgresql://bluefly:pw-SECRET@127.0.0.1:1/analytics", connect_attempts=2, connect_timeout_seconds=1
    )
    result = run("daily_health_check", make_resources(down), instance)
    assert not result.success
    message = failures(result)
    assert "Cannot reach the analytics database" in message and "TIMESCALE_URL" in message
    assert "pw-SECRET" not in message
    dispose_engine(down.url)


def test_database_down_at_a_tick_fails_the_protection_sensors_red_and_skips_the_outbox(instance):
    down = AnalyticsDatabase(url="postgresql://bluefly@127.0.0.1:1/analytics", connect_attempts=1)
    resources = make_resources(down)
    for sensor in ("budget_alert_sensor", "runaway_cost_sensor"):
        with pytest.raises(CannotJudge) as red:
            evaluate_sensor(sensor, resources, instance)
        assert str(red.value).startswith(f"{sensor} could not judge this tick: Cannot reach the analytics database")
        assert "TIMESCALE_URL" in str(red.value)
    # The outage watch reads nothing in its tick: the check run it requests fails red instead.
    check = run("endpoint_check", resources, instance)
    assert not check.success and "Cannot reach the analytics database" in failures(check)
    # Not a protection: the outbox waits for the database and says so.
    tick = evaluate_sensor("notification_outbox_sensor", resources, instance)
    assert tick.skip_message.startswith("Skipped, will retry next tick: Cannot reach the analytics database")
    dispose_engine(down.url)


def test_a_database_lost_after_the_first_tick_fails_the_next_red_and_the_one_after_its_return_judges(
    database, fresh_database_url, pg_admin_url, instance, at
):
    """The reachability wait runs once per process: afterwards a lost server is caught by the tick's own first
    statement (a red tick naming the database), and the pool reconnects on the next tick once it is back."""
    at(NOW)
    insert_costs(database, [(NOW - timedelta(hours=1), "llama-3-70b", 12.0, 30.0, False)])
    resources = make_resources(database)
    first = evaluate_sensor("runaway_cost_sensor", resources, instance)
    assert not first.run_requests and "$12.00" in first.skip_message
    name = sa.engine.make_url(fresh_database_url).database
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            with pytest.raises(CannotJudge) as red:
                evaluate_sensor("runaway_cost_sensor", resources, instance, first.cursor)
            said = str(red.value)
            assert said.startswith("runaway_cost_sensor could not judge this tick: Cannot reach the analytics database")
            assert "TIMESCALE_URL" in said
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    back = evaluate_sensor("runaway_cost_sensor", resources, instance, first.cursor)
    assert not back.run_requests and "$12.00" in back.skip_message


def test_database_failing_in_the_middle_of_a_tick_loses_no_alert(
    database, fresh_database_url, slack_server, instance, at, statement_timeouts
):
    """The spend query succeeds, the alert claim then times out on a lock: a red tick, and the alert on the next."""
    at(NOW)
    insert_costs(database, [(NOW - timedelta(hours=1), "llama-3-70b", 120.0, 30.0, False)])  # crosses $50 and $100
    database.check_cost_table()  # migrates: alert_state exists
    strict = AnalyticsDatabase(url=fresh_database_url, statement_timeout_seconds=1, connect_attempts=1)
    resources = make_resources(strict, slack=slack_server)
    with psycopg.connect(_libpq(fresh_database_url)) as blocker:
        blocker.execute("LOCK TABLE vast_pipelines.alert_state IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(CannotJudge) as red:
            evaluate_sensor("budget_alert_sensor", resources, instance)
        assert "did not answer in time" in str(red.value) and "statement timeout" in str(red.value)
        assert slack_server.messages == []
        blocker.rollback()
    assert outbox(database) == []  # nothing half-queued
    first = tick_and_launch("budget_alert_sensor", resources, instance)
    again = tick_and_launch("budget_alert_sensor", resources, instance, first.cursor)
    assert [m["channel"] for m in slack_server.messages] == ["#platform-alerts"]
    assert "Warning" in slack_server.messages[0]["text"] or "warning" in slack_server.messages[0]["text"]
    assert not again.run_requests and len(slack_server.messages) == 1


def test_messy_cost_rows_are_counted_apart_and_a_bad_row_estimate_changes_nothing(
    database, fresh_database_url, instance, at
):
    now = NOW
    at(now)
    insert_costs(
        database,
        [
            (now - timedelta(hours=1), "llama-2-7b", 1.00, 1.0, False),
            (now - timedelta(hours=2), "llama-2-7b", None, 1.0, False),
            (now - timedelta(hours=3), "llama-2-7b", -0.40, 1.0, False),
            (now - timedelta(hours=4), None, 0.25, None, None),
            (now + timedelta(days=3), "llama-2-7b", 99.0, 1.0, False),
        ],
    )
    with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as conn:
        conn.execute("UPDATE pg_class SET reltuples = 1e9 WHERE relname = 'vast_ai_costs'")  # a planner's bad guess
    result = run("daily_health_check", make_resources(database), instance)
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("yesterday_spend")]
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    # 1.00 + 0.25: the NULL and the future row excluded, the credit of -0.40 counted apart (never subtracted)
    assert meta["yesterday_spend"] == pytest.approx(1.25)
    assert (meta["null_cost_rows"], meta["future_rows"], meta["negative_cost_rows"]) == (1, 1, 1)
    assert meta["credits_month_to_date"] == pytest.approx(-0.40)
    with database.begin() as conn:
        report = conn.execute(sa.text("SELECT report_markdown FROM vast_pipelines.health_checks")).scalar_one()
    assert "have no cost (NULL)" in report and "in the future" in report
    assert "negative cost (credits, $-0.40 in total): not subtracted from spend" in report


# --- Vast.ai ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(200, "<html><body>Maintenance</body></html>"), "non-JSON"),
        (Reply(200, {"success": False, "msg": "account suspended"}), "account suspended"),
        (Reply(200, {"success": True, "results": []}, delay=2.0), "ReadTimeout"),
    ],
)
def test_vast_ai_misbehaving_is_named_in_the_health_report(database, vast_server, instance, reply, expected):
    vast_server.script("GET", "/api/v0/endptjobs/", reply, reply)
    resources = make_resources(database, vast=vast_server)
    resources["vast"] = VastAIResource(
        api_url=vast_server.url,
        autoscaler_url=vast_server.url,
        api_key=VAST_KEY,
        timeout_seconds=0.5,
        max_attempts=2,
        first_backoff_seconds=0.01,
    )
    result = run("daily_health_check", resources, instance)
    assert result.success  # one outside system failing does not hide the rest of the report
    with database.begin() as conn:
        report = conn.execute(sa.text("SELECT report_markdown FROM vast_pipelines.health_checks")).scalar_one()
    assert "Vast.ai serverless endpoints: not checked" in report and expected in report
    assert VAST_KEY not in report


# --- Slack and the outbox -------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["invalid_auth", "channel_not_found"])
def test_slack_refusing_keeps_the_report_and_it_goes_out_once_slack_is_fixed(database, slack_server, instance, error):
    slack_server.script("POST", "/api/chat.postMessage", Reply(200, {"ok": False, "error": error}))
    resources = make_resources(database, slack=slack_server)
    assert run("daily_health_check", resources, instance).success
    [row] = outbox(database)
    assert (row["status"], row["last_error"]) == ("failed", f"Slack API error: {error}")
    make_due(database)
    tick_and_launch("notification_outbox_sensor", resources, instance)
    make_due(database)
    tick_and_launch("notification_outbox_sensor", resources, instance)
    assert len(slack_server.messages) == 1 and "Health Check" in slack_server.messages[0]["text"]
    assert outbox(database)[0]["status"] == "delivered"


def test_slack_rate_limit_with_retry_after_is_waited_out(database, slack_server, instance):
    slack_server.script(
        "POST",
        "/api/chat.postMessage",
        Reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"}),
    )
    assert run("daily_health_check", make_resources(database, slack=slack_server), instance).success
    assert len(slack_server.calls_to("/api/chat.postMessage")) == 2 and len(slack_server.messages) == 1
    assert outbox(database)[0]["status"] == "delivered"


def test_slack_with_a_revoked_token_never_shows_it(database, slack_server, instance):
    resources = make_resources(database, slack=slack_server)
    resources["slack"] = SlackResource(bot_token="xoxb-REVOKED-SECRET", api_url=slack_server.api_url)
    assert run("daily_health_check", resources, instance).success
    [row] = outbox(database)
    assert row["last_error"] == "Slack API error: invalid_auth" and "REVOKED" not in str(row)


# --- the agent-router .env ------------------------------------------------------------------------------


def runaway(database) -> None:
    insert_costs(database, [(NOW - timedelta(hours=2), "llama-3-70b", 62.0, 40.0, False)])


def test_router_env_missing_still_stops_vast_and_notifies(database, vast_server, slack_server, instance, at, tmp_path):
    at(NOW)
    runaway(database)
    endpoint = vast_server.add_endpoint("llama-3-70b")
    resources = make_resources(
        database, vast=vast_server, slack=slack_server, router_env=tmp_path / "missing" / ".env", actions="apply"
    )
    result = run("emergency_shutdown", resources, instance, EMERGENCY)
    assert not result.success
    assert vast_server.endpoints[endpoint]["endpoint_state"] == "stopped"
    [message] = slack_server.messages
    assert "Cannot read AGENT_ROUTER_ENV_FILE" in message["text"]


@pytest.mark.skipif(shutil.which("chattr") is None, reason="chattr is needed to make a folder read-only for root")
def test_router_env_on_a_read_only_folder_is_left_unchanged(
    database, vast_server, slack_server, instance, at, tmp_path
):
    at(NOW)
    runaway(database)
    vast_server.add_endpoint("llama-3-70b")
    folder = tmp_path / "agent-router"
    folder.mkdir()
    env = folder / ".env"
    env.write_text("USE_VASTAI=true\n")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem does not support immutable folders (chattr +i)")
    try:
        resources = make_resources(database, vast=vast_server, slack=slack_server, router_env=env, actions="apply")
        result = run("emergency_shutdown", resources, instance, EMERGENCY)
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert not result.success
    assert env.read_text() == "USE_VASTAI=true\n"
    assert "the file was left unchanged" in slack_server.messages[0]["text"]


def test_router_env_with_odd_lines_keeps_every_other_line(database, vast_server, slack_server, instance, at, tmp_path):
    at(NOW)
    runaway(database)
    vast_server.add_endpoint("llama-3-70b")
    env = tmp_path / ".env"
    odd = 'export OPENAI_API_KEY="sk-keep"\r\n# comment = not a key\r\nUSE_VASTAI="true"\r\nX=\'a b\'\r\n\r\n'
    env.write_bytes(odd.encode())
    resources = make_resources(database, vast=vast_server, slack=slack_server, router_env=env, actions="apply")
    run("emergency_shutdown", resources, instance, EMERGENCY)
    assert env.read_bytes().decode() == odd.replace('USE_VASTAI="true"', 'USE_VASTAI="false"')
