"""Shared by the deployment jobs: keep each change in the database and tell #platform-updates."""

from typing import Any

import dagster as dg

from vast_pipelines.errors import OperatorError
from vast_pipelines.notifications.delivery import Sent, send_slack
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.slack import SlackResource

# Runs with this tag never overlap (dagster.yaml: tag_concurrency_limits), so two launches cannot
# both find "no endpoint yet" and create twins.
CHANGES_TAG = {"vast_pipelines/vast_changes": "deploy"}


def record(
    context: dg.OpExecutionContext,
    database: AnalyticsDatabase,
    step: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
    outcome: str = "applied",
    detail: str | None = None,
) -> None:
    """Keep a change of this run's job in ``vast_pipelines.worker_changes``; a database outage is logged, never
    hides the change."""
    try:
        database.worker_changes.record(
            run_id=context.run.run_id,
            job=context.job_name,
            step=step,
            target=target,
            before=before,
            after=after,
            outcome=outcome,
            detail=detail,
        )
    except OperatorError as exc:
        context.log.warning(f"{step} ({target}) happened but could not be recorded: {exc}")


def notify_updates(
    context: dg.OpExecutionContext, database: AnalyticsDatabase, slack: SlackResource, *, text: str, kind: str
) -> Sent | None:
    """Post to SLACK_UPDATES_CHANNEL through the outbox, once per run; None when even the outbox was unreachable."""
    dedupe_key = f"{context.job_name}:{context.run.run_id}"
    try:
        sent = send_slack(database, slack, channel=slack.updates_channel, text=text, kind=kind, dedupe_key=dedupe_key)
    except OperatorError as exc:
        context.log.warning(f"Could not queue the {slack.updates_channel} message: {exc}")
        return None
    context.log.info(f"{slack.updates_channel}: {sent.status}")
    return sent
