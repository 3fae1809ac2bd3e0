import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from vast_pipelines_tests.conftest import (
    SLACK_TOKEN,
    VAST_KEY,
    insert_costs,
    make_resources,
    tick_and_launch,
)
from vast_pipelines_tests.fakes import Reply

# Late in the month, with the spend logged on the 2nd: the 7-day run rate is $0, so no forecast warning
# mixes into the level alerts unless a test wants one.
NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
EARLY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def spend_to(database, total: float, at: datetime = EARLY) -> None:
    """Log requests until this month's spend is ``total``."""
    with database.begin() as conn:
        logged = conn.execute(sa.text("SELECT COALESCE(SUM(cost), 0) FROM vast_ai_costs")).scalar_one()
    insert_costs(database, [(at, "llama-3-70b", round(total - float(logged), 2), 20.0, False)])


def alert_state(database) -> list[tuple[str, bool]]:
    with database.begin() as conn:
        rows = conn.execute(
            sa.text("SELECT level, notified FROM vast_pipelines.alert_state ORDER BY claimed_at, level")
        )
        return [(r.level, r.notified) for r in rows]


def test_each_threshold_alerts_once_to_slack_and_email(database, slack_server, smtp_server, instance, at):
    at(NOW)
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)
    cursor = None
    seen = []
    for total, level, threshold in [
        (55.0, "INFO", "$50.00"),
        (104.2, "WARNING", "$100.00"),
        (151.0, "CRITICAL", "$150.00"),
        (203.5, "EMERGENCY", "$200.00"),
    ]:
        spend_to(database, total)
        for _ in range(2):  # the next tick finds nothing new
            tick = tick_and_launch("budget_alert_sensor", resources, instance, cursor)
            cursor = tick.cursor
        seen.append(level)
        assert len(slack_server.messages) == len(seen) and len(smtp_server.messages) == len(seen)
        text = slack_server.messages[-1]["text"]
        assert f"*Vast.ai budget {level}*" in text and f"crossed {threshold}" in text
        assert f"${total:,.2f}" in text and "Forecast month end" in text and "What to do" in text
        assert slack_server.messages[-1]["channel"] == "#platform-alerts"
        email = smtp_server.messages[-1]
        assert str(email["Subject"]).strip().startswith(f"[vast_pipelines] Vast.ai budget {level}: ${total:,.2f}")
        assert email["To"] == "platform-ops@bluefly.io" and "What to do" in email.get_content()
    texts = [m["text"] for m in slack_server.messages]
    assert "review usage" in texts[1] and "High Costs quick check" in texts[1]
    assert "Optimize now" in texts[2] and "<!subteam^S0PLATFORMOPS>" in texts[2] and "subteam" not in texts[0]
    assert "fall back to CPU" in texts[3] and "VAST_EMERGENCY_ACTIONS=dry-run" in texts[3]
    assert alert_state(database) == [("info", True), ("warning", True), ("critical", True), ("emergency", True)]
    for secret in (SLACK_TOKEN, VAST_KEY):
        assert not any(secret in t for t in texts)


def test_a_jump_over_several_thresholds_sends_the_highest_once(database, slack_server, smtp_server, instance, at):
    at(NOW)
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)
    spend_to(database, 40.0)
    quiet = tick_and_launch("budget_alert_sensor", resources, instance)
    assert slack_server.messages == [] and "next: info at $50.00" in quiet.skip_message
    spend_to(database, 160.0)
    tick = tick_and_launch("budget_alert_sensor", resources, instance, quiet.cursor)
    [message] = slack_server.messages
    assert "*Vast.ai budget CRITICAL*" in message["text"] and "$160.00" in message["text"]
    assert len(smtp_server.messages) == 1
    assert sorted(alert_state(database)) == [("critical", True), ("info", False), ("warning", False)]
    [request] = tick.run_requests  # the tick decided; a deliver_alerts run sent it
    assert request.job_name == "deliver_alerts" and request.tags["vast_pipelines/alert"] == "budget_critical"
    assert request.run_key == "budget:2026-03:critical+info+warning"


def test_the_same_tick_twice_a_restart_or_two_code_servers_alert_once(database, slack_server, instance, at):
    at(NOW)
    resources = make_resources(database, slack=slack_server)
    spend_to(database, 120.0)
    # Two code servers evaluating at the same moment, each with no cursor (as after a restart).
    with ThreadPoolExecutor(max_workers=2) as pool:
        ticks = list(pool.map(lambda _: tick_and_launch("budget_alert_sensor", resources, instance), range(2)))
    again = tick_and_launch("budget_alert_sensor", resources, instance, cursor=None)
    assert len(slack_server.messages) == 1 and "WARNING" in slack_server.messages[0]["text"]
    assert sum(len(t.run_requests) for t in [*ticks, again]) == 1  # one delivery run requested
    assert json.loads(again.cursor)["claimed"] == ["info", "warning"]
    with database.begin() as conn:
        kinds = conn.execute(sa.text("SELECT kind, transport FROM vast_pipelines.notification_outbox")).all()
    assert sorted(kinds) == [("budget_warning", "email"), ("budget_warning", "slack")]


def test_a_new_month_starts_over(database, slack_server, instance, at):
    resources = make_resources(database, slack=slack_server)
    at(NOW)
    spend_to(database, 70.0)
    march = tick_and_launch("budget_alert_sensor", resources, instance)
    at(datetime(2026, 4, 3, 12, 0, tzinfo=UTC))
    quiet = tick_and_launch("budget_alert_sensor", resources, instance, march.cursor)
    assert "No cost rows logged this month" in quiet.skip_message  # March's spend is not April's
    insert_costs(database, [(datetime(2026, 4, 1, 8, tzinfo=UTC), "llama-3-70b", 51.0, 10.0, False)])
    tick_and_launch("budget_alert_sensor", resources, instance, quiet.cursor)
    assert [("March" in m["text"], "April" in m["text"]) for m in slack_server.messages] == [
        (True, False),
        (False, True),
    ]
    with database.begin() as conn:
        months = conn.execute(
            sa.text("SELECT month, level FROM vast_pipelines.alert_state WHERE level = 'info' ORDER BY month")
        ).all()
    assert [(str(m), level) for m, level in months] == [("2026-03-01", "info"), ("2026-04-01", "info")]


def test_a_forecast_over_the_hard_cap_warns_ahead_once(database, slack_server, instance, at):
    at(datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
    resources = make_resources(database, slack=slack_server)
    days = [datetime(2026, 3, d, 10, tzinfo=UTC) for d in range(2, 8)]
    insert_costs(database, [(d, "llama-3-70b", 8.0, 20.0, False) for d in days])  # $48 so far, $6.86/day
    first = tick_and_launch("budget_alert_sensor", resources, instance)
    second = tick_and_launch("budget_alert_sensor", resources, instance, first.cursor)
    [message] = slack_server.messages
    assert (
        "*Vast.ai budget forecast*" in message["text"] and "hard cap $200.00 is reached on 2026-03-" in message["text"]
    )
    assert "<!subteam^S0PLATFORMOPS>" in message["text"] and "forecast reaches the hard cap" in second.skip_message
    assert alert_state(database) == [("forecast_hard_cap", True)]


def test_no_cost_rows_is_said_as_such_not_as_zero_dollars(database, slack_server, instance, at):
    at(NOW)
    tick = tick_and_launch("budget_alert_sensor", make_resources(database, slack=slack_server), instance)
    assert tick.skip_message.startswith("No cost rows logged this month") and slack_server.messages == []


def test_slack_down_then_back_delivers_the_alert_once(database, slack_server, smtp_server, instance, at):
    at(NOW)
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)
    spend_to(database, 110.0)
    slack_server.script("POST", "/api/chat.postMessage", Reply(500, "upstream unavailable"))
    tick_and_launch("budget_alert_sensor", resources, instance)
    assert slack_server.messages == [] and len(smtp_server.messages) == 1  # email went; Slack did not
    with database.begin() as conn:
        status, attempts, error = conn.execute(
            sa.text(
                "SELECT status, attempts, last_error FROM vast_pipelines.notification_outbox WHERE transport = 'slack'"
            )
        ).one()
    assert (status, attempts) == ("failed", 1) and SLACK_TOKEN not in error

    early = tick_and_launch("notification_outbox_sensor", resources, instance)
    assert slack_server.messages == [] and "Backlog: 1 undelivered (1 failed" in early.skip_message
    with database.begin() as conn:  # the back-off has passed
        conn.execute(sa.text("UPDATE vast_pipelines.notification_outbox SET next_attempt_at = now()"))
    retry = tick_and_launch("notification_outbox_sensor", resources, instance, early.cursor)
    later = tick_and_launch("notification_outbox_sensor", resources, instance, retry.cursor)
    [message] = slack_server.messages
    assert "WARNING" in message["text"] and len(smtp_server.messages) == 1
    # The tick decided (one redelivery run requested); the run sent it; the next tick sees the backlog empty.
    assert len(retry.run_requests) == 1 and "Nothing due. Backlog: 0 undelivered" in later.skip_message
    [observation] = later.asset_events
    assert observation.asset_key == dg.AssetKey("notification_outbox")
    assert observation.metadata["undelivered"].value == 0
    quiet = tick_and_launch("notification_outbox_sensor", resources, instance, later.cursor)
    assert quiet.asset_events == [] and not quiet.run_requests  # unchanged backlog: nothing new to record
    with database.begin() as conn:
        assert conn.execute(
            sa.text("SELECT status, attempts FROM vast_pipelines.notification_outbox WHERE transport = 'slack'")
        ).one() == ("delivered", 2)
