"""``incidents`` (emergency shutdowns and outages), ``endpoint_probes`` (each outage check) and
``router_confirmations`` (each restart of agent-router by the emergency and restore jobs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vast_pipelines.store.base import Migration, Store, json_document

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.incidents (
                id bigserial PRIMARY KEY,
                kind text NOT NULL CHECK (kind IN ('runaway', 'hard_cap', 'manual', 'service_down')),
                subject text NOT NULL,
                status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
                mode text,
                opened_at timestamptz NOT NULL DEFAULT now(),
                closed_at timestamptz,
                run_id text UNIQUE,
                restore_run_id text,
                summary text NOT NULL,
                figures jsonb,
                before_state jsonb,
                after_state jsonb,
                restored_state jsonb,
                failures jsonb
            )
            """,
            # At most one open outage per endpoint: the claim that opens (and announces) it once.
            """
            CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open_outage
                ON vast_pipelines.incidents (subject) WHERE kind = 'service_down' AND status = 'open'
            """,
            "CREATE INDEX IF NOT EXISTS incidents_open ON vast_pipelines.incidents (opened_at) WHERE status = 'open'",
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.endpoint_probes (
                id bigserial PRIMARY KEY,
                checked_at timestamptz NOT NULL DEFAULT now(),
                endpoint text NOT NULL,
                online boolean NOT NULL,
                attempts integer NOT NULL,
                failure text,
                detail text
            )
            """,
            # The USE_VASTAI agent-router was restarted with: the goal state is confirmed only here, never
            # inferred from the .env alone.
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.router_confirmations (
                id bigserial PRIMARY KEY,
                at timestamptz NOT NULL DEFAULT now(),
                run_id text NOT NULL,
                use_vastai text NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS endpoint_probes_recent ON vast_pipelines.endpoint_probes (endpoint, id DESC)",
        ),
    ),
)

_INSERT_INCIDENT = """
INSERT INTO vast_pipelines.incidents
    (kind, subject, status, mode, run_id, summary, figures, before_state, after_state, failures)
VALUES (:kind, :subject, 'open', :mode, :run_id, :summary, CAST(:figures AS jsonb), CAST(:before AS jsonb),
        CAST(:after AS jsonb), CAST(:failures AS jsonb))
ON CONFLICT (run_id) DO UPDATE
SET summary = EXCLUDED.summary, figures = EXCLUDED.figures, before_state = EXCLUDED.before_state,
    after_state = EXCLUDED.after_state, failures = EXCLUDED.failures
RETURNING id
"""

_OPEN_EMERGENCIES = """
SELECT id, kind, mode, opened_at, summary, figures, before_state, after_state, failures
FROM vast_pipelines.incidents
WHERE status = 'open' AND kind <> 'service_down' AND (CAST(:id AS bigint) IS NULL OR id = :id)
ORDER BY id
"""

_CLOSE_INCIDENTS = """
UPDATE vast_pipelines.incidents
SET status = 'resolved', closed_at = now(), restore_run_id = :run_id, restored_state = CAST(:restored AS jsonb)
WHERE id = ANY (CAST(:ids AS bigint[])) AND status = 'open'
RETURNING id
"""

_INSERT_PROBE = """
INSERT INTO vast_pipelines.endpoint_probes (checked_at, endpoint, online, attempts, failure, detail)
VALUES (:checked_at, :endpoint, :online, :attempts, :failure, :detail)
"""

_RECENT_PROBES = """
SELECT online, checked_at FROM vast_pipelines.endpoint_probes WHERE endpoint = :endpoint ORDER BY id DESC LIMIT :limit
"""

_OPEN_OUTAGE = """
SELECT id, opened_at FROM vast_pipelines.incidents
WHERE kind = 'service_down' AND subject = :endpoint AND status = 'open'
"""

_OPEN_OUTAGE_INSERT = """
INSERT INTO vast_pipelines.incidents (kind, subject, status, summary, figures, before_state)
VALUES ('service_down', :endpoint, 'open', :summary, CAST(:figures AS jsonb), CAST(:context AS jsonb))
ON CONFLICT (subject) WHERE kind = 'service_down' AND status = 'open' DO NOTHING
RETURNING id
"""

_CLOSE_OUTAGE = """
UPDATE vast_pipelines.incidents
SET status = 'resolved', closed_at = now(), after_state = CAST(:state AS jsonb)
WHERE kind = 'service_down' AND subject = :endpoint AND status = 'open'
RETURNING id, opened_at, figures
"""

_CONFIRM_ROUTER = "INSERT INTO vast_pipelines.router_confirmations (run_id, use_vastai) VALUES (:run_id, :use_vastai)"

_LAST_ROUTER_CONFIRMATION = """
SELECT run_id, use_vastai, at FROM vast_pipelines.router_confirmations ORDER BY id DESC LIMIT 1
"""


class IncidentStore(Store):
    """Emergency incidents, outages and their probes, and agent-router's confirmed restarts."""

    def record_emergency(
        self,
        *,
        kind: str,
        subject: str,
        mode: str,
        run_id: str,
        summary: str,
        figures: dict[str, Any],
        before: Any,
        after: Any,
        failures: list[Any],
    ) -> int:
        """Open (or, re-executing the same run, update) the incident of an emergency run."""
        params = {"kind": kind, "subject": subject, "mode": mode, "run_id": run_id, "summary": summary}
        documents = {"figures": figures, "before": before, "after": after, "failures": failures}
        with self._begin() as conn:
            return conn.execute(
                sa.text(_INSERT_INCIDENT), {**params, **{k: json_document(v) for k, v in documents.items()}}
            ).scalar_one()

    def open_emergencies(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        """Open runaway/hard-cap/manual incidents (or just ``incident_id`` if it is open), oldest first."""
        with self._begin() as conn:
            return [dict(row) for row in conn.execute(sa.text(_OPEN_EMERGENCIES), {"id": incident_id}).mappings()]

    def close(self, ids: Sequence[int], *, run_id: str, restored: Any) -> list[int]:
        """Resolve the open incidents among ``ids``, recording the restore run and the state it left."""
        params = {"ids": list(ids), "run_id": run_id, "restored": json_document(restored)}
        with self._begin() as conn:
            return list(conn.execute(sa.text(_CLOSE_INCIDENTS), params).scalars())

    def record_probe(
        self,
        *,
        endpoint: str,
        checked_at: datetime,
        online: bool,
        attempts: int,
        failure: str | None,
        detail: str,
        keep: int,
    ) -> tuple[list[tuple[bool, datetime]], int | None]:
        """Keep one check of ``endpoint``; its latest ``keep`` (online, checked_at), newest first, and its open
        outage."""
        probe = {"checked_at": checked_at, "endpoint": endpoint, "online": online, "attempts": attempts}
        with self._begin() as conn:
            conn.execute(sa.text(_INSERT_PROBE), {**probe, "failure": failure, "detail": detail})
            recent = [
                (row.online, row.checked_at)
                for row in conn.execute(sa.text(_RECENT_PROBES), {"endpoint": endpoint, "limit": keep})
            ]
            outage = conn.execute(sa.text(_OPEN_OUTAGE), {"endpoint": endpoint}).first()
        return recent, outage.id if outage else None

    def open_outage(self, *, endpoint: str, summary: str, figures: dict[str, Any], context: Any) -> int | None:
        """Open the outage of ``endpoint``; None if one is already open (someone else announced it)."""
        params = {"endpoint": endpoint, "summary": summary}
        with self._begin() as conn:
            return conn.execute(
                sa.text(_OPEN_OUTAGE_INSERT),
                {**params, "figures": json_document(figures), "context": json_document(context)},
            ).scalar_one_or_none()

    def close_outage(self, *, endpoint: str, state: Any) -> dict[str, Any] | None:
        """Resolve the open outage of ``endpoint``: its id, opened_at and figures, or None if none was open."""
        with self._begin() as conn:
            found = (
                conn.execute(sa.text(_CLOSE_OUTAGE), {"endpoint": endpoint, "state": json_document(state)})
                .mappings()
                .first()
            )
        return dict(found) if found else None

    def confirm_router(self, *, run_id: str, use_vastai: str) -> None:
        """Record that ``run_id`` restarted agent-router with ``USE_VASTAI=use_vastai``."""
        with self._begin() as conn:
            conn.execute(sa.text(_CONFIRM_ROUTER), {"run_id": run_id, "use_vastai": use_vastai})

    def router_confirmation(self) -> dict[str, Any] | None:
        """The last confirmed restart of agent-router (run_id, use_vastai, at), if any."""
        with self._begin() as conn:
            row = conn.execute(sa.text(_LAST_ROUTER_CONFIRMATION)).mappings().first()
        return dict(row) if row else None
