"""``worker_changes``: every change the deployment jobs make to Vast.ai or the router, before and after."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vast_pipelines.store.base import Migration, Store, json_document

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.worker_changes (
                id bigserial PRIMARY KEY,
                at timestamptz NOT NULL DEFAULT now(),
                run_id text NOT NULL,
                job text NOT NULL,
                step text NOT NULL,
                target text NOT NULL,
                before jsonb,
                after jsonb,
                outcome text NOT NULL CHECK (outcome IN ('applied', 'failed')),
                detail text
            )
            """,
            "CREATE INDEX IF NOT EXISTS worker_changes_at ON vast_pipelines.worker_changes (at)",
        ),
    ),
)

_INSERT = """
INSERT INTO vast_pipelines.worker_changes (run_id, job, step, target, before, after, outcome, detail)
VALUES (:run_id, :job, :step, :target, CAST(:before AS jsonb), CAST(:after AS jsonb), :outcome, :detail)
"""


class WorkerChangeStore(Store):
    """The record of deployment changes."""

    def record(
        self,
        *,
        run_id: str,
        job: str,
        step: str,
        target: str,
        before: Any,
        after: Any,
        outcome: str = "applied",
        detail: str | None = None,
    ) -> None:
        """Keep one change to Vast.ai or the router (before/after state)."""
        params = {"run_id": run_id, "job": job, "step": step, "target": target, "outcome": outcome, "detail": detail}
        with self._begin() as conn:
            conn.execute(sa.text(_INSERT), {**params, "before": json_document(before), "after": json_document(after)})
