"""Slack mentions page (issue 12): SLACK_ONCALL_MENTION as a user-group handle is resolved and cached."""

from __future__ import annotations

import pytest

from vast_pipelines.notifications.alerts import alert
from vast_pipelines.reports.alerts import Message
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines_tests.conftest import SLACK_TOKEN

pytestmark = pytest.mark.faults


def slack(server, mention: str) -> SlackResource:
    return SlackResource(bot_token=SLACK_TOKEN, api_url=server.api_url, oncall_mention=mention)


def page(database, resource: SlackResource, email: EmailResource, key: str) -> None:
    text = f":rotating_light: {resource.oncall_mention} emergency {key}"
    alert(database, resource, email, Message("[vast_pipelines] EMERGENCY", text), kind="test", dedupe_key=key)


def test_a_handle_becomes_the_user_group_mention_looked_up_once(database, slack_server, smtp_server):
    resource, email = slack(slack_server, "@platform-ops"), EmailResource(smtp_url=smtp_server.url)
    page(database, resource, email, "one")
    page(database, resource, email, "two")
    texts = [m["text"] for m in slack_server.messages]
    assert texts == [
        ":rotating_light: <!subteam^S0PLATFORMOPS> emergency one",
        ":rotating_light: <!subteam^S0PLATFORMOPS> emergency two",
    ]
    assert len(slack_server.calls_to("/api/usergroups.list")) == 1  # cached
    assert "@platform-ops emergency one" in smtp_server.messages[0].get_content()  # email keeps the readable handle


def test_the_id_form_is_sent_as_given_without_a_lookup(database, slack_server):
    page(database, slack(slack_server, "<!subteam^S0OTHER>"), EmailResource(), "one")
    assert "<!subteam^S0OTHER>" in slack_server.messages[0]["text"]
    assert slack_server.calls_to("/api/usergroups.list") == []


def test_an_unknown_handle_is_still_delivered_as_text_and_says_why(database, slack_server, caplog):
    page(database, slack(slack_server, "@nobody-here"), EmailResource(), "one")
    assert "@nobody-here" in slack_server.messages[0]["text"]  # delivered 1, lost 0
    assert "no Slack user group has the handle 'nobody-here'" in caplog.text
