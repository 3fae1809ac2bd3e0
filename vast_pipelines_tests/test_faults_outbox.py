"""Faults on the alert path: every message lands exactly once (issue 12), with counts.

Counts asserted: messages delivered (at Slack/SMTP), doubled (delivered more than once), lost (neither
delivered nor kept), and write calls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from vast_pipelines.notifications.delivery import send_slack
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines_tests.conftest import (
    REPO,
    SLACK_TOKEN,
    dagster_process,
    evaluate_sensor,
    insert_costs,
    launch,
    loopback_environment,
    make_resources,
    tick_and_launch,
)
from vast_pipelines_tests.test_outbox_redelivery import make_due

pytestmark = pytest.mark.faults


def outbox_rows(database) -> list[dict]:
    with database.begin() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.text(
                    "SELECT id, kind, transport, destination, status, attempts, body, last_error "
                    "FROM vast_pipelines.notification_outbox ORDER BY id"
                )
            ).mappings()
        ]


def sender(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vast_pipelines_tests.senders", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def delivered_by(process: subprocess.Popen) -> int:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return int(out.strip().splitlines()[-1].split()[-1])


def test_a_message_is_delivered_by_one_sender_only_with_a_slow_slack(
    database, fresh_database_url, slack_server, instance
):
    """A run sends (Slack takes 2 s to answer) while another process retries the outbox in a loop and the
    daemon's outbox sensor ticks: one delivery, no double."""
    database.check_cost_table()  # migrated before the processes start
    slack_server.post_delay = 2.0
    retrier = sender("redeliver", fresh_database_url, slack_server.api_url, "6")
    assert retrier.stdout.readline().strip() == "ready"
    run = sender("send", fresh_database_url, slack_server.api_url, "budget warning")
    resources = make_resources(database, slack=slack_server)
    ticks, cursor = 0, None
    while run.poll() is None:
        tick = tick_and_launch("notification_outbox_sensor", resources, instance, cursor)
        cursor, ticks = tick.cursor, ticks + 1
        time.sleep(0.1)
    by_run, by_retrier = delivered_by(run), delivered_by(retrier)
    [row] = outbox_rows(database)
    texts = [m["text"] for m in slack_server.messages]
    assert ticks >= 3  # the daemon really looked while the run was sending
    assert (by_run, by_retrier, len(texts)) == (1, 0, 1)  # delivered once, doubled 0
    assert (row["status"], row["attempts"]) == ("delivered", 1)  # lost 0, one delivery attempt recorded
    assert len(slack_server.calls_to("/api/chat.postMessage")) == 1  # one write call to Slack


# --- old news is not a page -------------------------------------------------------------------------------


def age(database, hours: float, kind: str | None = None) -> None:
    """As if the messages (of ``kind``) had been queued ``hours`` ago and their back-off had passed."""
    with database.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE vast_pipelines.notification_outbox "
                "SET created_at = now() - make_interval(hours => CAST(:h AS integer)), next_attempt_at = now() "
                "WHERE CAST(:kind AS text) IS NULL OR kind = :kind"
            ),
            {"h": hours, "kind": kind},
        )


def test_a_week_of_messages_kept_while_slack_was_unset_is_one_digest_not_a_week_of_pages(
    database, slack_server, instance
):
    unset = SlackResource()
    for kind, text in [
        ("service_down", "vLLM down (a host nobody configured)"),
        ("emergency_shutdown", "dry-run emergency"),
        ("health_check", "demo health report"),
        ("weekly", "weekly review"),
    ]:
        assert send_slack(database, unset, channel="#platform-alerts", text=text, kind=kind).status == "not_configured"
    age(database, 24 * 7)
    send_slack(database, unset, channel="#platform-alerts", text="budget warning an hour ago", kind="budget_warning")
    age(database, 1, kind="budget_warning")
    resources = make_resources(database, slack=slack_server)
    first = tick_and_launch("notification_outbox_sensor", resources, instance)
    second = tick_and_launch("notification_outbox_sensor", resources, instance, first.cursor)
    texts = [m["text"] for m in slack_server.messages]
    rows = outbox_rows(database)
    assert len(texts) == 2  # the fresh alert and one digest; 0 of the week-old messages posted
    assert texts.count("budget warning an hour ago") == 1
    [digest] = [t for t in texts if "too old to post" in t]
    assert "4 queued message(s)" in digest and "1 service_down" in digest and "1 weekly" in digest
    assert [m["channel"] for m in slack_server.messages if m["text"] == digest] == ["#platform-updates"]
    assert sorted(r["status"] for r in rows) == ["delivered", "delivered"] + ["expired"] * 4  # lost 0: all kept
    assert not second.run_requests and len(slack_server.messages) == 2  # doubled 0


def test_a_report_waits_a_day_an_alert_only_hours(database, slack_server, instance):
    unset = SlackResource()
    send_slack(database, unset, channel="#platform-updates", text="morning report", kind="health_check")
    send_slack(database, unset, channel="#platform-alerts", text="outage", kind="service_down")
    age(database, 8)  # past the alerts' 6 h, within the reports' 24 h
    resources = make_resources(database, slack=slack_server)
    tick_and_launch("notification_outbox_sensor", resources, instance)
    texts = [m["text"] for m in slack_server.messages]
    assert "morning report" in texts and "outage" not in texts and len(texts) == 2
    resources["settings"] = RunbookSettings(thresholds="alert_max_age_hours=12")
    send_slack(database, unset, channel="#platform-alerts", text="outage 2", kind="service_down")
    age(database, 8, kind="service_down")
    tick_and_launch("notification_outbox_sensor", make_resources(database, slack=slack_server) | resources, instance)
    assert [m["text"] for m in slack_server.messages].count("outage 2") == 1  # configurable: 12 h keeps it


def test_while_slack_stays_down_at_most_one_digest_waits(database, instance):
    unset = SlackResource()
    resources = make_resources(database)
    for round_ in range(3):
        send_slack(database, unset, channel="#platform-alerts", text=f"old {round_}", kind="service_down")
        age(database, 7, kind="service_down")
        tick_and_launch("notification_outbox_sensor", resources, instance)
    waiting = [r for r in outbox_rows(database) if r["kind"] == "outbox_expired" and r["status"] != "expired"]
    [digest] = waiting
    assert "3 queued message(s)" in digest["body"]  # the later digest reports all three; the older ones superseded


def test_nothing_from_the_demo_database_is_ever_posted(embedded_home, slack_server, instance):
    demo = AnalyticsDatabase(home=str(embedded_home))
    slack = SlackResource(bot_token=SLACK_TOKEN, api_url=slack_server.api_url)
    sent = send_slack(demo, slack, channel="#platform-alerts", text="demo alert", kind="budget_warning")
    make_due(demo)
    tick = tick_and_launch("notification_outbox_sensor", make_resources(demo, slack=slack_server), instance)
    [row] = outbox_rows(demo)
    assert sent.status == "demo" and row["status"] == "demo"  # kept, lost 0
    assert slack_server.calls == [] and not tick.run_requests  # posted 0, write calls to Slack 0


# --- sensors decide, jobs act -----------------------------------------------------------------------------


def test_the_budget_tick_decides_and_a_delivery_run_sends_once_while_the_outbox_sensor_waits(
    database, slack_server, smtp_server, instance, at
):
    at(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    insert_costs(database, [(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "llama-3-70b", 104.0, 20.0, False)])
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)
    tick = evaluate_sensor("budget_alert_sensor", resources, instance)
    [request] = tick.run_requests
    assert slack_server.calls == [] and smtp_server.messages == []  # the tick sent nothing: 0 write calls
    outbox_tick = tick_and_launch("notification_outbox_sensor", resources, instance)  # the daemon, meanwhile
    assert not outbox_tick.run_requests and slack_server.messages == []  # leased to the delivery run
    [run] = launch(tick, resources, instance)
    [again] = launch(tick, resources, instance)  # the same request launched twice (an op retry, a re-execution)
    assert run.success and again.success
    assert len(slack_server.messages) == 1 and len(smtp_server.messages) == 1  # delivered 2, doubled 0
    [output] = [e for e in again.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert output.event_specific_data.metadata["already_taken"].value == 2  # the second run sent nothing
    assert [r["status"] for r in outbox_rows(database)] == ["delivered", "delivered"]  # lost 0


# --- the real daemon and its run worker ------------------------------------------------------------------


@pytest.mark.timeout(420)
def test_the_real_daemon_and_its_run_worker_deliver_a_budget_alert_once_with_a_slow_slack(
    database, fresh_database_url, slack_server, embedded_home, tmp_path
):
    """`dagster-daemon run`: the budget tick claims and queues, the queued run coordinator launches
    `deliver_alerts` in a run worker of its own while Slack takes 5 s to answer, and the outbox sensor keeps
    ticking beside it. Counts: delivered 1 per channel, doubled 0, lost 0."""
    if "faketime" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("libfaketime stalls the Dagster daemon's timed waits (see test_ui.py): run on the real clock")
    database.check_cost_table()
    # $60 this month (logged just now, so in this month): the $50 level; runaway raised so no emergency runs.
    insert_costs(database, [(datetime.now(UTC), "llama-3-70b", 60.0, 30.0, False)])
    slack_server.post_delay = 5.0
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "TIMESCALE_URL": fresh_database_url,
        "VAST_PIPELINES_HOME": str(embedded_home),
        "VAST_PIPELINES_THRESHOLDS": "runaway_daily=190",
        **loopback_environment(slack=slack_server),
    }
    log = tmp_path / "daemon.log"

    def budget_posts() -> list[dict]:
        return [m for m in slack_server.messages if "budget INFO" in m["text"]]

    with dagster_process(["dagster-daemon", "run", "-w", str(REPO / "workspace.yaml")], env, log) as daemon:
        deadline = time.monotonic() + 240
        while not budget_posts() and time.monotonic() < deadline:
            assert daemon.poll() is None, log.read_text()[-3000:]
            time.sleep(2)
        delivered_at = time.monotonic()
        assert budget_posts(), log.read_text()[-3000:]
        # Let the outbox sensor tick again after the delivery (it ticks every 60 s), with the run's copy leased.
        while time.monotonic() < delivered_at + 70:
            time.sleep(2)
    posts = budget_posts()
    rows = [r for r in outbox_rows(database) if r["kind"] == "budget_info"]
    assert [m["channel"] for m in posts] == ["#platform-alerts"]  # delivered once, doubled 0
    assert {(r["transport"], r["status"], r["attempts"]) for r in rows} == {
        ("slack", "delivered", 1),
        ("email", "not_configured", 1),  # SMTP is not set: kept, not lost
    }
    # The delivery was a run the daemon launched in a worker of its own, and only one.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="deliver_alerts"))
    budget_runs = [r for r in runs if "budget_info" in r.tags.get("vast_pipelines/alert", "").split(",")]
    assert [r.status for r in budget_runs] == [dg.DagsterRunStatus.SUCCESS]
