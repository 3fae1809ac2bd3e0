"""``health_checks``: one row per morning health check run, each asset filling its part."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vast_pipelines.store.base import Database, Migration, Store, json_document

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.health_checks (
                id bigserial PRIMARY KEY,
                run_id text NOT NULL UNIQUE,
                started_at timestamptz NOT NULL DEFAULT now(),
                database_label text NOT NULL,
                endpoints jsonb,
                endpoints_text text,
                spend jsonb,
                spend_text text,
                report_markdown text,
                all_online boolean
            )
            """,
            "CREATE INDEX IF NOT EXISTS health_checks_started_at ON vast_pipelines.health_checks (started_at)",
        ),
    ),
)

_UPSERT_ENDPOINTS = """
INSERT INTO vast_pipelines.health_checks (run_id, started_at, database_label, endpoints, endpoints_text, all_online)
VALUES (:run_id, :at, :database_label, CAST(:data AS jsonb), :text, :all_online)
ON CONFLICT (run_id) DO UPDATE
SET endpoints = EXCLUDED.endpoints, endpoints_text = EXCLUDED.endpoints_text, all_online = EXCLUDED.all_online
"""

_UPSERT_SPEND = """
INSERT INTO vast_pipelines.health_checks (run_id, started_at, database_label, spend, spend_text)
VALUES (:run_id, :at, :database_label, CAST(:data AS jsonb), :text)
ON CONFLICT (run_id) DO UPDATE SET spend = EXCLUDED.spend, spend_text = EXCLUDED.spend_text
"""

_SET_REPORT = "UPDATE vast_pipelines.health_checks SET report_markdown = :report WHERE run_id = :run_id"

_REPORT = "SELECT report_markdown FROM vast_pipelines.health_checks WHERE run_id = :run_id"

# This run's parts, or the latest of each part from any run when one was not materialized now.
_PARTS = """
SELECT
    COALESCE(
        (SELECT endpoints_text FROM vast_pipelines.health_checks WHERE run_id = :run_id),
        (SELECT endpoints_text FROM vast_pipelines.health_checks
         WHERE endpoints_text IS NOT NULL ORDER BY started_at DESC LIMIT 1)
    ) AS endpoints_text,
    COALESCE(
        (SELECT spend_text FROM vast_pipelines.health_checks WHERE run_id = :run_id),
        (SELECT spend_text FROM vast_pipelines.health_checks
         WHERE spend_text IS NOT NULL ORDER BY started_at DESC LIMIT 1)
    ) AS spend_text
"""


class HealthStore(Store):
    """The morning report's parts and the report composed from them."""

    def __init__(self, database: Database, label: str) -> None:
        super().__init__(database)
        self._label = label

    def save_endpoints(
        self, *, run_id: str, at: datetime, data: list[dict[str, Any]], text: str, all_online: bool
    ) -> None:
        """Keep this run's endpoint verdicts."""
        params = {"run_id": run_id, "at": at, "database_label": self._label, "text": text, "all_online": all_online}
        with self._begin() as conn:
            conn.execute(sa.text(_UPSERT_ENDPOINTS), {**params, "data": json_document(data)})

    def save_spend(self, *, run_id: str, at: datetime, data: dict[str, Any], text: str) -> None:
        """Keep this run's spend figures."""
        params = {"run_id": run_id, "at": at, "database_label": self._label, "text": text}
        with self._begin() as conn:
            conn.execute(sa.text(_UPSERT_SPEND), {**params, "data": json_document(data)})

    def parts(self, run_id: str) -> tuple[str | None, str | None]:
        """This run's (or the latest) endpoint and spend sections of the morning report."""
        with self._begin() as conn:
            row = conn.execute(sa.text(_PARTS), {"run_id": run_id}).one()
        return row.endpoints_text, row.spend_text

    def save_report(self, *, run_id: str, report: str) -> None:
        """Keep the composed report beside its parts."""
        with self._begin() as conn:
            conn.execute(sa.text(_SET_REPORT), {"run_id": run_id, "report": report})

    def report(self, run_id: str) -> str:
        """The report composed by run ``run_id`` (which must have composed one)."""
        with self._begin() as conn:
            return conn.execute(sa.text(_REPORT), {"run_id": run_id}).scalar_one()
