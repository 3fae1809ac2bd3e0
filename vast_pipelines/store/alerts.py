"""Claims that make an alert go out once: ``alert_state`` (each budget level, once a month) and
``alert_episodes`` (a condition such as stale data or a cost anomaly, once while it lasts). Each claim queues
its alert in the same transaction, so a claimed alert is never lost and a lost race never sends."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from vast_pipelines.store.base import Migration, Store
from vast_pipelines.store.outbox import OutboxMessage, OutboxRow, queue_messages

MIGRATIONS = (
    Migration(
        1,
        (
            # One row per (month, level) ever crossed, whichever code server or tick gets there first. Levels
            # skipped over are claimed unnotified.
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.alert_state (
                month date NOT NULL,
                level text NOT NULL,
                claimed_at timestamptz NOT NULL DEFAULT now(),
                month_to_date double precision NOT NULL,
                notified boolean NOT NULL,
                PRIMARY KEY (month, level)
            )
            """,
            # At most one open episode per kind and subject.
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.alert_episodes (
                id bigserial PRIMARY KEY,
                kind text NOT NULL,
                subject text NOT NULL,
                opened_at timestamptz NOT NULL DEFAULT now(),
                closed_at timestamptz,
                summary text NOT NULL,
                figures jsonb
            )
            """,
            """
            CREATE UNIQUE INDEX IF NOT EXISTS alert_episodes_one_open
                ON vast_pipelines.alert_episodes (kind, subject) WHERE closed_at IS NULL
            """,
            "CREATE INDEX IF NOT EXISTS alert_episodes_opened_at ON vast_pipelines.alert_episodes (opened_at)",
        ),
    ),
)

# Claims every level crossed this month in one statement; RETURNING says which this caller won.
_CLAIM_LEVELS = """
INSERT INTO vast_pipelines.alert_state (month, level, month_to_date, notified)
SELECT :month, level, :month_to_date, level = ANY (CAST(:notify AS text[]))
FROM unnest(CAST(:levels AS text[])) WITH ORDINALITY AS claimed(level, position)
ORDER BY position
ON CONFLICT (month, level) DO NOTHING
RETURNING level
"""

_OPEN_EPISODE = """
INSERT INTO vast_pipelines.alert_episodes (kind, subject, summary, figures)
VALUES (:kind, :subject, :summary, CAST(:figures AS jsonb))
ON CONFLICT (kind, subject) WHERE closed_at IS NULL DO NOTHING
RETURNING id
"""

# Closes the open episodes of a kind whose subject is no longer flagged.
_CLOSE_EPISODES = """
UPDATE vast_pipelines.alert_episodes
SET closed_at = now()
WHERE kind = :kind AND closed_at IS NULL AND NOT (subject = ANY (CAST(:still_open AS text[])))
RETURNING id, subject, opened_at
"""

_EPISODES_BETWEEN = """
SELECT id, kind, subject, opened_at, closed_at, summary
FROM vast_pipelines.alert_episodes
WHERE opened_at < :end AND (closed_at IS NULL OR closed_at >= :start)
ORDER BY opened_at
"""


class AlertStore(Store):
    """Budget-level claims and alert episodes."""

    def claim_levels(
        self,
        *,
        month: date,
        month_to_date: float,
        keys: Sequence[str],
        notify: Sequence[str],
        compose: Callable[[set[str]], list[OutboxMessage]],
    ) -> tuple[set[str], list[OutboxRow]]:
        """Claim alert ``keys`` for ``month``; the messages ``compose`` writes for what this caller won are queued
        in the same transaction."""
        params = {"month": month, "month_to_date": month_to_date, "levels": list(keys), "notify": list(notify)}
        with self._begin() as conn:
            claimed = set(conn.execute(sa.text(_CLAIM_LEVELS), params).scalars())
            rows = queue_messages(conn, compose(claimed) if claimed else [])
        return claimed, rows

    def open_episode(
        self, *, kind: str, subject: str, summary: str, figures: dict[str, Any], messages: list[OutboxMessage]
    ) -> list[OutboxRow] | None:
        """Open the episode ``kind``/``subject`` and queue its alert in the same transaction.

        None when an episode is already open (its alert went out when it opened): once per episode.
        """
        params = {"kind": kind, "subject": subject, "summary": summary, "figures": json.dumps(figures, default=str)}
        with self._begin() as conn:
            if conn.execute(sa.text(_OPEN_EPISODE), params).scalar_one_or_none() is None:
                return None
            return queue_messages(conn, messages)

    def close_episodes(self, kind: str, still_open: Sequence[str]) -> list[dict[str, Any]]:
        """Close the open ``kind`` episodes whose subject is not in ``still_open``; returns what was closed."""
        with self._begin() as conn:
            rows = conn.execute(sa.text(_CLOSE_EPISODES), {"kind": kind, "still_open": list(still_open)})
            return [dict(row) for row in rows.mappings()]

    def episodes_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Episodes open at any time in ``[start, end)``."""
        with self._begin() as conn:
            rows = conn.execute(sa.text(_EPISODES_BETWEEN), {"start": start, "end": end})
            return [dict(row) for row in rows.mappings()]
