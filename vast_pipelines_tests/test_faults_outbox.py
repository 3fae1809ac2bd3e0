"""Faults on the alert path: every message lands exactly once (issue 12), with counts.

Counts asserted: messages delivered (at Slack/SMTP), doubled (delivered more than once), lost (neither
delivered nor kept), and write calls.
"""

from __future__ import annotations

import subprocess
import sys
import time

import dagster as dg
import pytest
import sqlalchemy as sa

from vast_pipelines_tests.conftest import REPO, evaluate_sensor, make_resources

pytestmark = pytest.mark.faults


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


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
        tick = evaluate_sensor("notification_outbox_sensor", resources, instance, cursor)
        cursor, ticks = tick.cursor, ticks + 1
        time.sleep(0.1)
    by_run, by_retrier = delivered_by(run), delivered_by(retrier)
    [row] = outbox_rows(database)
    texts = [m["text"] for m in slack_server.messages]
    assert ticks >= 3  # the daemon really looked while the run was sending
    assert (by_run, by_retrier, len(texts)) == (1, 0, 1)  # delivered once, doubled 0
    assert (row["status"], row["attempts"]) == ("delivered", 1)  # lost 0, one delivery attempt recorded
    assert len(slack_server.calls_to("/api/chat.postMessage")) == 1  # one write call to Slack
