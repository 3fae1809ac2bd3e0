"""The outbox's delivery: every message is stored first, then delivered, then marked with the outcome.

A message the outbox cannot take (the database is down) is sent directly and kept in the spool until it can.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from vast_pipelines.domain.outbox import DIGEST_KIND, Delivery, Expired, MaxAges, digest
from vast_pipelines.reports.outbox import expired_digest
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store import outbox
from vast_pipelines.store.errors import DatabaseUnavailable
from vast_pipelines.store.outbox import OutboxMessage, OutboxRow

# Undelivered messages are retried after this long, growing with each attempt (capped).
RETRY_BASE_SECONDS = 60.0
RETRY_MAX_SECONDS = 3600.0
# A message being delivered (first attempt or retry) is hidden from other senders this long.
LEASE_SECONDS = outbox.LEASE_SECONDS


@dataclass(frozen=True)
class Sent:
    """A queued notification and what its first delivery attempt did.

    ``spooled`` is set when the outbox could not be written: the message was sent directly and waits in that
    file until the database is back.
    """

    outbox_id: int | None
    delivery: Delivery | None
    spooled: Path | None = None

    @property
    def status(self) -> str:
        """``delivered``, ``failed``, ``not_configured``, ``demo`` (embedded demo database: never posted), or
        ``duplicate`` (already queued)."""
        return self.delivery.status if self.delivery else "duplicate"

    @property
    def kept(self) -> bool:
        """Whether the message is stored somewhere (outbox or spool), so an undelivered one is retried."""
        return self.delivery is None or self.outbox_id is not None or self.spooled is not None


# What a dead or refusing database raises while the outbox is written.
OUTBOX_DOWN = (DatabaseUnavailable, sa.exc.DBAPIError)
log = logging.getLogger(__name__)


DEMO_NOTE = "kept, never posted: queued in the embedded demo database"


def retry_delay(attempts: int) -> float:
    """Back-off before the next delivery attempt of a message tried ``attempts`` times."""
    return min(RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0)), RETRY_MAX_SECONDS)


def send_slack(
    database: AnalyticsDatabase,
    slack: SlackResource,
    *,
    channel: str,
    text: str,
    kind: str,
    dedupe_key: str | None = None,
    attachment_name: str | None = None,
    attachment: bytes | None = None,
    title: str | None = None,
) -> Sent:
    """Queue a Slack message (optionally with a file) in the outbox, then try to deliver it once."""
    message = OutboxMessage(
        transport="slack",
        destination=channel,
        kind=kind,
        subject=title,
        body=text,
        attachment_name=attachment_name,
        attachment=attachment,
        dedupe_key=dedupe_key,
    )
    return send(database, slack, None, message)


def send(
    database: AnalyticsDatabase, slack: SlackResource | None, email: EmailResource | None, message: OutboxMessage
) -> Sent:
    """Queue ``message``, then try to deliver it once; a duplicate ``dedupe_key`` is not sent again.

    When the outbox cannot be written (the database is down), the message is sent directly and kept in the
    spool, to be written to the outbox when the database is back.
    """
    try:
        outbox_id = database.outbox.enqueue(message)
    except OUTBOX_DOWN as exc:
        return send_directly(database, slack, email, message, reason=exc)
    if outbox_id is None:
        return Sent(None, None)
    return Sent(outbox_id, deliver_and_mark(database, slack, email, outbox_id, message, attempts=0))


def send_directly(
    database: AnalyticsDatabase,
    slack: SlackResource | None,
    email: EmailResource | None,
    message: OutboxMessage,
    *,
    reason: BaseException,
) -> Sent:
    """One delivery attempt without the outbox, then the message and its outcome kept in the spool."""
    log.warning(f"The outbox cannot be written ({type(reason).__name__}); sending {message.kind} directly")
    delivery = Delivery("demo", error=DEMO_NOTE) if database.is_embedded else deliver(slack, email, message)
    try:
        path = database.spool.keep(delivery, message=message)
    except OSError as exc:
        log.error(f"{message.kind} to {message.destination} could not be kept for the outbox either: {exc}")
        path = None
    return Sent(None, delivery, spooled=path)


def flush_spool(database: AnalyticsDatabase) -> int:
    """Write what waited for the database (messages sent directly, outcomes of attempts) to the outbox."""
    written = 0
    for item in database.spool.waiting():
        retry = retry_delay(1) if item.delivery.status != "delivered" else 0.0
        if item.message is not None:
            database.outbox.record_attempted(
                item.message,
                status=item.delivery.status,
                error=item.delivery.error,
                ref=item.delivery.ref,
                retry_in_seconds=retry,
            )
        elif item.outbox_id is not None:
            database.outbox.mark(
                item.outbox_id,
                status=item.delivery.status,
                error=item.delivery.error,
                ref=item.delivery.ref,
                retry_in_seconds=retry,
            )
        item.path.unlink(missing_ok=True)
        written += 1
    return written


def deliver_and_mark(
    database: AnalyticsDatabase,
    slack: SlackResource | None,
    email: EmailResource | None,
    outbox_id: int,
    message: OutboxMessage | OutboxRow,
    *,
    attempts: int,
) -> Delivery:
    """One delivery attempt of a stored message (tried ``attempts`` times before), and its outcome recorded.

    Nothing queued in the embedded demo database is ever posted: it is kept with status ``demo``.
    """
    if database.is_embedded:
        database.outbox.mark(outbox_id, status="demo", error=DEMO_NOTE)
        return Delivery("demo", error=DEMO_NOTE)
    delivery = deliver(slack, email, message)
    try:
        database.outbox.mark(
            outbox_id,
            status=delivery.status,
            error=delivery.error,
            ref=delivery.ref,
            retry_in_seconds=retry_delay(attempts + 1),
        )
    except OUTBOX_DOWN:
        # Delivered (or not) but not recorded: keep the outcome, so the lease's end does not send it again.
        database.spool.keep(delivery, outbox_id=outbox_id)
    return delivery


def deliver(slack: SlackResource | None, email: EmailResource | None, message: OutboxMessage | OutboxRow) -> Delivery:
    """One delivery attempt by the message's transport."""
    if message.transport == "email":
        if email is None:
            return Delivery("failed", error="no email resource was given to deliver this message")
        return email.send(message.subject or message.kind, message.body, to=message.destination)
    if slack is None:
        return Delivery("failed", error="no Slack resource was given to deliver this message")
    return deliver_slack(
        slack, message.destination, message.body, message.attachment_name, message.attachment, message.subject
    )


def deliver_slack(
    slack: SlackResource,
    channel: str,
    text: str,
    attachment_name: str | None = None,
    attachment: bytes | None = None,
    title: str | None = None,
) -> Delivery:
    """One delivery attempt of a stored Slack message."""
    if attachment is not None and attachment_name:
        return slack.upload_file(channel, attachment_name, bytes(attachment), title or attachment_name, text)
    return slack.post_message(channel, text)


def deliver_queued(
    database: AnalyticsDatabase, slack: SlackResource, email: EmailResource, rows: list[OutboxRow]
) -> list[Delivery]:
    """First delivery attempt of messages already stored (e.g. in the transaction that claimed an alert)."""
    return [deliver_and_mark(database, slack, email, row.id, row, attempts=row.attempts) for row in rows]


def redeliver_due(
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    *,
    ages: MaxAges | None = None,
    limit: int = 20,
    time_budget_seconds: float = 30.0,
) -> list[tuple[OutboxRow, Delivery]]:
    """Retry undelivered messages whose back-off has passed, oldest first, within a time budget.

    First, messages past their kind's maximum age (``ages``) expire and one digest of them is queued and sent
    (old news is never posted one by one). Messages are leased first, so a second sender (another code server)
    skips them; a message not tried before the budget ran out is tried again when its lease ends. Nothing
    from the embedded demo database is ever sent.
    """
    flush_spool(database)
    if database.is_embedded:
        return []
    started = time.monotonic()
    outcomes = []
    if ages is not None:
        _, queued = database.outbox.expire(ages, lambda expired: digest_message(slack, expired, ages))
        if queued is not None:
            outcomes.append((queued, deliver_and_mark(database, slack, email, queued.id, queued, attempts=0)))
    for row in database.outbox.claim_due(limit=limit, lease_seconds=LEASE_SECONDS):
        if time.monotonic() - started > time_budget_seconds:
            break
        outcomes.append((row, deliver_and_mark(database, slack, email, row.id, row, attempts=row.attempts)))
    return outcomes


def digest_message(slack: SlackResource, expired: list[Expired], ages: MaxAges) -> OutboxMessage | None:
    """The one Slack message (to the updates channel: it reports, it does not page) saying what expired and was
    not reported yet (None: nothing was)."""
    found = digest(expired)
    if found is None:
        return None
    message = expired_digest(found, ages)
    return OutboxMessage("slack", slack.updates_channel, DIGEST_KIND, message.text, subject=message.subject)
