"""A second sender in its own process, for the exactly-once tests: ``python -m vast_pipelines_tests.senders``.

``send DATABASE_URL SLACK_API_URL TEXT`` queues one Slack message and delivers it (what a run does);
``redeliver DATABASE_URL SLACK_API_URL SECONDS`` retries whatever is due, over and over (what the daemon's
outbox sensor does), for SECONDS. Each prints how many messages it delivered.
"""

from __future__ import annotations

import sys
import time

from vast_pipelines.notifications.delivery import Sent, redeliver_due, send, send_slack
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store.outbox import OutboxMessage
from vast_pipelines_tests.conftest import SLACK_TOKEN


def send_email(
    database: AnalyticsDatabase,
    email: EmailResource,
    *,
    subject: str,
    body: str,
    kind: str,
    dedupe_key: str | None = None,
) -> Sent:
    """Queue an email to ALERT_EMAIL_TO in the outbox, then try to deliver it once (as the paging path does)."""
    message = OutboxMessage(
        transport="email", destination=email.to, kind=kind, subject=subject, body=body, dedupe_key=dedupe_key
    )
    return send(database, None, email, message)


def main(argv: list[str]) -> int:
    action, url, slack_url, arg = argv
    database = AnalyticsDatabase(url=url, connect_attempts=3)
    slack = SlackResource(bot_token=SLACK_TOKEN, api_url=slack_url, rate_limit_retries=0, server_error_retries=0)
    if action == "send":
        sent = send_slack(database, slack, channel="#platform-alerts", text=arg, kind="budget_warning")
        print(f"delivered {int(sent.status == 'delivered')}", flush=True)
        return 0
    delivered = 0
    until = time.monotonic() + float(arg)
    print("ready", flush=True)
    while time.monotonic() < until:
        outcomes = redeliver_due(database, slack, EmailResource())
        delivered += sum(1 for _, d in outcomes if d.status == "delivered")
        time.sleep(0.05)
    print(f"delivered {delivered}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
