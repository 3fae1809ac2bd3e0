import pytest
import sqlalchemy as sa

from vast_pipelines.notifications.delivery import redeliver_due, retry_delay, send_slack
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines_tests.conftest import SLACK_TOKEN, make_resources, notification, tick_and_launch
from vast_pipelines_tests.senders import send_email


def make_due(database) -> None:
    """As if the back-off had passed."""
    with database.begin() as conn:
        conn.execute(sa.text("UPDATE vast_pipelines.notification_outbox SET next_attempt_at = now()"))


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (20, 3600)])
def test_back_off_doubles_up_to_an_hour(attempts, seconds):
    assert retry_delay(attempts) == seconds


def test_smtp_refusing_then_accepting_delivers_the_email_once(database, smtp_server, instance):
    email = EmailResource(smtp_url=smtp_server.url)
    smtp_server.refuse = "451 4.3.0 mailbox busy, try again later"
    sent = send_email(database, email, subject="[vast_pipelines] test", body="spend", kind="test")
    assert sent.status == "failed" and smtp_server.messages == []
    smtp_server.refuse = None
    make_due(database)
    resources = make_resources(database, smtp=smtp_server)
    first = tick_and_launch("notification_outbox_sensor", resources, instance)
    make_due(database)
    second = tick_and_launch("notification_outbox_sensor", resources, instance, first.cursor)
    assert len(smtp_server.messages) == 1 and str(smtp_server.messages[0]["Subject"]) == "[vast_pipelines] test"
    assert len(first.run_requests) == 1 and not second.run_requests and "Nothing due" in second.skip_message
    row = notification(database, sent.outbox_id)
    assert (row["status"], row["attempts"]) == ("delivered", 2)


def test_messages_kept_while_slack_was_not_configured_go_out_once_it_is(database, slack_server, instance):
    sent = send_slack(database, SlackResource(), channel="#platform-alerts", text="kept", kind="test")
    assert sent.status == "not_configured"
    make_due(database)
    tick = tick_and_launch("notification_outbox_sensor", make_resources(database, slack=slack_server), instance)
    assert [m["text"] for m in slack_server.messages] == ["kept"] and len(tick.run_requests) == 1


def test_a_leased_message_is_not_sent_by_a_second_sender(database, slack_server):
    down = SlackResource(bot_token=SLACK_TOKEN, api_url="http://127.0.0.1:9/api/", rate_limit_retries=0)
    send_slack(database, down, channel="#platform-alerts", text="once", kind="test")
    make_due(database)
    [claimed] = database.outbox.claim_due(limit=10, lease_seconds=300)
    assert database.outbox.claim_due(limit=10, lease_seconds=300) == []  # another code server's tick
    slack = SlackResource(bot_token=SLACK_TOKEN, api_url=slack_server.api_url)
    assert redeliver_due(database, slack, EmailResource()) == []
    assert claimed.body == "once" and claimed.attempts == 1 and slack_server.messages == []


def test_the_backlog_is_observed_when_it_changes(database, instance):
    resources = make_resources(database)
    empty = tick_and_launch("notification_outbox_sensor", resources, instance)
    [observation] = empty.asset_events
    assert observation.metadata["undelivered"].value == 0
    send_slack(database, SlackResource(), channel="#platform-alerts", text="x", kind="test")
    waiting = tick_and_launch("notification_outbox_sensor", resources, instance, empty.cursor)
    [observation] = waiting.asset_events
    assert observation.metadata["not_configured"].value == 1 and observation.metadata["undelivered"].value == 1
    assert "Backlog: 1 undelivered (0 failed, 1 not configured)" in waiting.skip_message
    again = tick_and_launch("notification_outbox_sensor", resources, instance, waiting.cursor)
    assert again.asset_events == []
