"""``notification_outbox``: every message is stored before it is sent, leased while one sender tries it, marked
with each attempt's outcome, and expired (with one digest) when it is old news. Delivery: ``notifications``.

Over 300 lines: one table's whole life (store, lease, mark, count, expire) reads best in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vast_pipelines.domain.outbox import DIGEST_KIND, Expired, MaxAges
from vast_pipelines.store.base import Migration, Store

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.notification_outbox (
                id bigserial PRIMARY KEY,
                created_at timestamptz NOT NULL DEFAULT now(),
                transport text NOT NULL CHECK (transport IN ('slack', 'email')),
                destination text NOT NULL,
                kind text NOT NULL,
                subject text,
                body text NOT NULL,
                attachment_name text,
                attachment bytea,
                dedupe_key text UNIQUE,
                status text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'not_configured')),
                attempts integer NOT NULL DEFAULT 0,
                last_error text,
                last_attempt_at timestamptz,
                next_attempt_at timestamptz NOT NULL DEFAULT now(),
                delivered_at timestamptz,
                delivery_ref text
            )
            """,
            """
            CREATE INDEX IF NOT EXISTS notification_outbox_undelivered
                ON vast_pipelines.notification_outbox (next_attempt_at) WHERE status <> 'delivered'
            """,
            # 'expired' (old news, summarised in one digest) and 'demo' (queued by the embedded demo database:
            # kept, never posted). Widened once, by name, so a restart does not re-validate the table.
            """
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'notification_outbox_status_v2') THEN
                    ALTER TABLE vast_pipelines.notification_outbox
                        DROP CONSTRAINT IF EXISTS notification_outbox_status_check;
                    ALTER TABLE vast_pipelines.notification_outbox ADD CONSTRAINT notification_outbox_status_v2
                        CHECK (status IN ('pending', 'delivered', 'failed', 'not_configured', 'expired', 'demo'));
                END IF;
            END
            $$
            """,
            # The digest that reported an expired message (NULL: not reported yet).
            "ALTER TABLE vast_pipelines.notification_outbox ADD COLUMN IF NOT EXISTS digested_in bigint",
        ),
    ),
)

# A message is leased to whoever writes it (or claims it for a retry) this long: no other sender (the outbox
# sensor in the daemon, a second code server) may touch it meanwhile. Longer than any one delivery attempt.
LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class OutboxMessage:
    """A notification to store in the outbox before its first delivery attempt."""

    transport: str
    destination: str
    kind: str
    body: str
    subject: str | None = None
    dedupe_key: str | None = None
    attachment_name: str | None = None
    attachment: bytes | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A notification waiting in (or delivered from) the outbox."""

    id: int
    transport: str
    destination: str
    kind: str
    subject: str | None
    body: str
    attachment_name: str | None = None
    attachment: bytes | None = None
    attempts: int = 0


@dataclass(frozen=True)
class OutboxBacklog:
    """Undelivered notifications by status, and how old the oldest is."""

    undelivered: int
    pending: int
    failed: int
    not_configured: int
    oldest: datetime | None


# The columns a message is stored in and a row is read from, written once (the dataclasses' fields).
_STORED = ", ".join(f.name for f in dataclasses.fields(OutboxMessage))
_VALUES = ", ".join(f":{f.name}" for f in dataclasses.fields(OutboxMessage))
_READ = ", ".join(f.name for f in dataclasses.fields(OutboxRow))
# What a row repeats of the message it was stored from.
_KEPT = tuple(f.name for f in dataclasses.fields(OutboxRow) if f.name not in ("id", "attempts"))
# Undelivered and still to be tried: not delivered, not expired, not kept from the demo database.
_OPEN = "status NOT IN ('delivered', 'expired', 'demo')"

_INSERT = f"""
INSERT INTO vast_pipelines.notification_outbox ({_STORED}, next_attempt_at)
VALUES ({_VALUES}, now() + make_interval(secs => :lease_seconds))
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""

# A message sent directly while the outbox could not be written, stored once the database is back with what the
# attempt did; if the same message was queued meanwhile (same dedupe key), a delivery is recorded on that row.
_INSERT_ATTEMPTED = f"""
INSERT INTO vast_pipelines.notification_outbox AS o
    ({_STORED}, status, attempts, last_error, last_attempt_at, next_attempt_at, delivered_at, delivery_ref)
VALUES ({_VALUES}, :status, 1, :error, now(), now() + make_interval(secs => :retry_in_seconds),
        CASE WHEN :status = 'delivered' THEN now() END, :ref)
ON CONFLICT (dedupe_key) DO UPDATE
SET status = 'delivered', attempts = o.attempts + 1, last_error = NULL, last_attempt_at = now(), delivered_at = now(),
    delivery_ref = EXCLUDED.delivery_ref
WHERE EXCLUDED.status = 'delivered' AND o.status <> 'delivered'
RETURNING id
"""

_MARK = """
UPDATE vast_pipelines.notification_outbox
SET status = :status,
    attempts = attempts + 1,
    last_error = :error,
    last_attempt_at = now(),
    next_attempt_at = now() + make_interval(secs => :retry_in_seconds),
    delivered_at = CASE WHEN :status = 'delivered' THEN now() END,
    delivery_ref = :ref
WHERE id = :id
"""

# Due messages, leased (their next attempt pushed past the lease) so two senders never send one twice.
_CLAIM_DUE = f"""
UPDATE vast_pipelines.notification_outbox
SET next_attempt_at = now() + make_interval(secs => :lease_seconds)
WHERE id IN (
    SELECT id FROM vast_pipelines.notification_outbox
    WHERE {_OPEN} AND next_attempt_at <= now()
    ORDER BY id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
RETURNING {_READ}
"""

# The delivery job takes the messages a sensor tick queued (leased to that tick) for their first attempt; a
# message already tried (by the outbox sensor after the lease ran out, or an earlier try of this job) is not.
_CLAIM_QUEUED = f"""
UPDATE vast_pipelines.notification_outbox
SET next_attempt_at = now() + make_interval(secs => :lease_seconds)
WHERE id IN (
    SELECT id FROM vast_pipelines.notification_outbox
    WHERE id = ANY (CAST(:ids AS bigint[])) AND status = 'pending' AND attempts = 0
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
RETURNING {_READ}
"""

# What the outbox sensor reads each tick: how many messages a delivery run would try now.
_DUE_COUNT = f"SELECT COUNT(*) FROM vast_pipelines.notification_outbox WHERE {_OPEN} AND next_attempt_at <= now()"

_BACKLOG = f"""
SELECT
    COUNT(*) AS undelivered,
    COUNT(*) FILTER (WHERE status = 'pending') AS pending,
    COUNT(*) FILTER (WHERE status = 'failed') AS failed,
    COUNT(*) FILTER (WHERE status = 'not_configured') AS not_configured,
    MIN(created_at) AS oldest
FROM vast_pipelines.notification_outbox
WHERE {_OPEN}
"""

_NOT_DELIVERED_OF_KIND = """
SELECT kind, destination, status FROM vast_pipelines.notification_outbox
WHERE status <> 'delivered' AND kind LIKE :kind_prefix || '%' ORDER BY id
"""

# Old news: due, undelivered messages past their kind's maximum age are marked expired (never posted alone).
_EXPIRE = f"""
UPDATE vast_pipelines.notification_outbox
SET status = 'expired', last_error = 'expired undelivered after ' || ROUND(
        EXTRACT(EPOCH FROM now() - created_at) / 3600.0) || ' h'
WHERE id IN (
    SELECT id FROM vast_pipelines.notification_outbox
    WHERE {_OPEN} AND next_attempt_at <= now() AND kind <> :digest_kind
      AND created_at < now() - make_interval(secs => CASE WHEN kind = ANY (CAST(:report_kinds AS text[]))
                                                         THEN :report_seconds ELSE :alert_seconds END)
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""

# At most one digest waits at a time: an older digest whose delivery failed is superseded by the new one, and
# what it reported is reported again (a digest on its first attempt, still 'pending', is left alone).
_SUPERSEDE_DIGESTS = """
WITH superseded AS (
    UPDATE vast_pipelines.notification_outbox
    SET status = 'expired', last_error = 'superseded by a newer digest'
    WHERE kind = :digest_kind AND status IN ('failed', 'not_configured')
    RETURNING id
)
UPDATE vast_pipelines.notification_outbox SET digested_in = NULL
WHERE digested_in IN (SELECT id FROM superseded)
"""

_UNREPORTED_EXPIRED = """
SELECT id, kind, transport, EXTRACT(EPOCH FROM now() - created_at) AS age_seconds
FROM vast_pipelines.notification_outbox
WHERE status = 'expired' AND kind <> :digest_kind AND digested_in IS NULL
ORDER BY id
FOR UPDATE SKIP LOCKED
"""

_MARK_DIGESTED = """
UPDATE vast_pipelines.notification_outbox SET digested_in = :digest_id WHERE id = ANY (CAST(:ids AS bigint[]))
"""


def queue_messages(conn: Connection, messages: Sequence[OutboxMessage]) -> list[OutboxRow]:
    """Store ``messages`` within the caller's transaction (the one that claims what they announce), leased to the
    caller, who delivers them next; a ``dedupe_key`` already queued is skipped."""
    rows = []
    for message in messages:
        outbox_id = conn.execute(
            sa.text(_INSERT), {**dataclasses.asdict(message), "lease_seconds": LEASE_SECONDS}
        ).scalar_one_or_none()
        if outbox_id is not None:
            rows.append(OutboxRow(outbox_id, **{name: getattr(message, name) for name in _KEPT}))
    return rows


class OutboxStore(Store):
    """The outbox's writes, claims and counts."""

    def enqueue(self, message: OutboxMessage) -> int | None:
        """Store a message before any delivery attempt; None if its ``dedupe_key`` was already queued."""
        with self._begin() as conn:
            rows = queue_messages(conn, [message])
        return rows[0].id if rows else None

    def queue(self, messages: Sequence[OutboxMessage]) -> list[OutboxRow]:
        """Store ``messages`` (leased to the caller, for a delivery run); a ``dedupe_key`` already queued is
        skipped."""
        with self._begin() as conn:
            return queue_messages(conn, messages)

    def mark(
        self,
        outbox_id: int,
        *,
        status: str,
        error: str | None = None,
        ref: str | None = None,
        retry_in_seconds: float = 0.0,
    ) -> None:
        """Record the outcome of one delivery attempt."""
        params = {"id": outbox_id, "status": status, "error": error, "ref": ref, "retry_in_seconds": retry_in_seconds}
        with self._begin() as conn:
            conn.execute(sa.text(_MARK), params)

    def record_attempted(
        self, message: OutboxMessage, *, status: str, error: str | None, ref: str | None, retry_in_seconds: float
    ) -> int | None:
        """Store a message that was already tried (sent directly while the outbox could not be written)."""
        params = {**dataclasses.asdict(message), "status": status, "error": error, "ref": ref}
        with self._begin() as conn:
            return conn.execute(
                sa.text(_INSERT_ATTEMPTED), {**params, "retry_in_seconds": retry_in_seconds}
            ).scalar_one_or_none()

    def claim_due(self, *, limit: int, lease_seconds: float) -> list[OutboxRow]:
        """Undelivered messages whose retry time has come, oldest first, leased so no other caller sends them
        meanwhile."""
        with self._begin() as conn:
            rows = conn.execute(sa.text(_CLAIM_DUE), {"limit": limit, "lease_seconds": lease_seconds}).mappings()
            return sorted((_outbox_row(row) for row in rows), key=lambda row: row.id)

    def claim_queued(self, ids: Sequence[int]) -> list[OutboxRow]:
        """Messages ``ids`` not tried yet (queued by a sensor tick for a delivery run), leased to the caller."""
        with self._begin() as conn:
            rows = conn.execute(sa.text(_CLAIM_QUEUED), {"ids": list(ids), "lease_seconds": LEASE_SECONDS}).mappings()
            return sorted((_outbox_row(row) for row in rows), key=lambda row: row.id)

    def expire(
        self, ages: MaxAges, compose: Callable[[list[Expired]], OutboxMessage | None]
    ) -> tuple[int, OutboxRow | None]:
        """Mark due, undelivered messages older than their kind's maximum age ``expired``, and queue the digest
        ``compose`` writes of every expired message not reported yet; how many expired now, and the digest queued.

        One transaction: an older digest still waiting is superseded, so at most one digest waits at a time.
        """
        with self._begin() as conn:
            params = {
                "report_kinds": list(ages.report_kinds),
                "report_seconds": ages.report_seconds,
                "alert_seconds": ages.alert_seconds,
                "digest_kind": DIGEST_KIND,
            }
            expired_now = len(conn.execute(sa.text(_EXPIRE), params).all())
            conn.execute(sa.text(_SUPERSEDE_DIGESTS), {"digest_kind": DIGEST_KIND})
            rows = conn.execute(sa.text(_UNREPORTED_EXPIRED), {"digest_kind": DIGEST_KIND}).all()
            message = compose([Expired(row.id, row.kind, row.transport, float(row.age_seconds)) for row in rows])
            if message is None:
                return expired_now, None
            [queued] = queue_messages(conn, [message])
            conn.execute(sa.text(_MARK_DIGESTED), {"digest_id": queued.id, "ids": [row.id for row in rows]})
        return expired_now, queued

    def due_count(self) -> int:
        """How many undelivered messages may be tried now (their back-off and lease have passed)."""
        with self._begin() as conn:
            return conn.execute(sa.text(_DUE_COUNT)).scalar_one()

    def backlog(self) -> OutboxBacklog:
        """Undelivered notifications by status."""
        with self._begin() as conn:
            return OutboxBacklog(**conn.execute(sa.text(_BACKLOG)).mappings().one())

    def not_delivered(self, kind_prefix: str) -> list[tuple[str, str, str]]:
        """(kind, destination, status) of each message not delivered whose kind starts with ``kind_prefix``."""
        with self._begin() as conn:
            return [tuple(row) for row in conn.execute(sa.text(_NOT_DELIVERED_OF_KIND), {"kind_prefix": kind_prefix})]


def _outbox_row(row: Any) -> OutboxRow:
    fields = {f.name: row[f.name] for f in dataclasses.fields(OutboxRow)}
    if fields["attachment"] is not None:
        fields["attachment"] = bytes(fields["attachment"])
    return OutboxRow(**fields)
