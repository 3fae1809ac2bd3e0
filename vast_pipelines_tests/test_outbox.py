from vast_pipelines.notifications.delivery import send_slack
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines_tests.conftest import SLACK_TOKEN, closed_port_url, notification
from vast_pipelines_tests.fakes import Reply


def slack(server=None, url=None, token=SLACK_TOKEN, **kw) -> SlackResource:
    return SlackResource(
        bot_token=token,
        api_url=url or (server.api_url if server else None),
        rate_limit_retries=1,
        server_error_retries=0,
        **kw,
    )


def test_message_is_stored_then_delivered(database, slack_server):
    sent = send_slack(database, slack(slack_server), channel="#platform-updates", text="hello", kind="test")
    assert sent.status == "delivered"
    assert slack_server.messages == [{"channel": "#platform-updates", "text": "hello", "ts": sent.delivery.ref}]
    row = notification(database, sent.outbox_id)
    assert (row["status"], row["attempts"], row["body"]) == ("delivered", 1, "hello")


def test_rate_limited_then_delivered_once(database, slack_server):
    slack_server.script(
        "POST",
        "/api/chat.postMessage",
        Reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"}),
    )
    sent = send_slack(database, slack(slack_server), channel="#platform-alerts", text="spend", kind="test")
    assert sent.status == "delivered"
    assert len(slack_server.calls_to("/api/chat.postMessage")) == 2
    assert len(slack_server.messages) == 1


def test_slack_down_keeps_the_message_in_the_outbox(database):
    sent = send_slack(
        database, slack(url=closed_port_url() + "/api/"), channel="#platform-alerts", text="runaway", kind="test"
    )
    row = notification(database, sent.outbox_id)
    assert row["status"] == "failed" and row["body"] == "runaway"
    assert "unreachable" in row["last_error"]
    assert SLACK_TOKEN not in row["last_error"]


def test_slack_errors_are_recorded_by_code(database, slack_server):
    sent = send_slack(database, slack(slack_server), channel="#no-such-channel", text="x", kind="test")
    assert notification(database, sent.outbox_id)["last_error"] == "Slack API error: channel_not_found"
    bad = send_slack(database, slack(slack_server, token="xoxb-wrong"), channel="#incidents", text="x", kind="t")
    assert notification(database, bad.outbox_id)["last_error"] == "Slack API error: invalid_auth"


def test_without_a_token_messages_wait_as_not_configured(database):
    sent = send_slack(database, slack(token=None), channel="#platform-updates", text="report", kind="test")
    assert notification(database, sent.outbox_id)["status"] == "not_configured"


def test_same_dedupe_key_is_queued_once(database, slack_server):
    first = send_slack(database, slack(slack_server), channel="#platform-alerts", text="a", kind="t", dedupe_key="k")
    second = send_slack(database, slack(slack_server), channel="#platform-alerts", text="a", kind="t", dedupe_key="k")
    assert first.status == "delivered" and second.status == "duplicate"
    assert len(slack_server.messages) == 1


def test_file_upload_reaches_the_channel(slack_server):
    delivery = slack(slack_server).upload_file("#platform-updates", "chart.png", b"\x89PNG...", "Chart", "weekly")
    assert delivery.status == "delivered"
    [uploaded] = slack_server.files
    assert (uploaded["channel"], uploaded["content"], uploaded["initial_comment"]) == (
        "C0UPDATES",
        b"\x89PNG...",
        "weekly",
    )
