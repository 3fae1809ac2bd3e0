"""What the insights keep: ``billing_reconciliation`` (logged vs billed per UTC day), ``idle_timeout_what_if``
(the replayed settings grid) and ``alert_backtests`` (each backtest run)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa

from vast_pipelines.domain.insights import DayReconciliation
from vast_pipelines.store.base import Migration, Store
from vast_pipelines.store.costs import LoggedDay

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.billing_reconciliation (
                day date PRIMARY KEY,
                logged numeric,
                requests bigint NOT NULL,
                null_cost_requests bigint NOT NULL,
                billed numeric,
                difference numeric,
                share double precision,
                diverged boolean NOT NULL,
                checked_at timestamptz NOT NULL DEFAULT now(),
                run_id text
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.idle_timeout_what_if (
                model text NOT NULL,
                idle_timeout integer NOT NULL,
                min_workers integer NOT NULL,
                judged_requests bigint NOT NULL,
                cold_starts bigint NOT NULL,
                cold_start_rate double precision,
                warm_gpu_hours double precision NOT NULL,
                cost_usd double precision,
                recommended boolean NOT NULL,
                window_start timestamptz NOT NULL,
                window_end timestamptz NOT NULL,
                computed_at timestamptz NOT NULL DEFAULT now(),
                run_id text,
                PRIMARY KEY (model, idle_timeout, min_workers)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.alert_backtests (
                run_id text PRIMARY KEY,
                ran_at timestamptz NOT NULL DEFAULT now(),
                first_day date NOT NULL,
                end_day date NOT NULL,
                thresholds jsonb NOT NULL,
                firings jsonb NOT NULL,
                report_markdown text NOT NULL
            )
            """,
        ),
    ),
)

_UPSERT_RECONCILIATION = """
INSERT INTO vast_pipelines.billing_reconciliation
    (day, logged, requests, null_cost_requests, billed, difference, share, diverged, run_id)
VALUES (:day, :logged, :requests, :null_cost_requests, :billed, :difference, :share, :diverged, :run_id)
ON CONFLICT (day) DO UPDATE
SET logged = EXCLUDED.logged, requests = EXCLUDED.requests, null_cost_requests = EXCLUDED.null_cost_requests,
    billed = EXCLUDED.billed, difference = EXCLUDED.difference, share = EXCLUDED.share,
    diverged = EXCLUDED.diverged, checked_at = now(), run_id = EXCLUDED.run_id
"""

_RECONCILIATION_BETWEEN = """
SELECT day, logged, requests, null_cost_requests, billed, difference, share, diverged
FROM vast_pipelines.billing_reconciliation
WHERE day >= :first AND day < :end
ORDER BY day
"""

_DELETE_WHAT_IF = "DELETE FROM vast_pipelines.idle_timeout_what_if"

_INSERT_WHAT_IF = """
INSERT INTO vast_pipelines.idle_timeout_what_if (
    model, idle_timeout, min_workers, judged_requests, cold_starts, cold_start_rate, warm_gpu_hours, cost_usd,
    recommended, window_start, window_end, run_id
)
VALUES (
    :model, :idle_timeout, :min_workers, :judged_requests, :cold_starts, :cold_start_rate, :warm_gpu_hours,
    :cost_usd, :recommended, :window_start, :window_end, :run_id
)
"""

_WHAT_IF_RECOMMENDED = """
SELECT model, idle_timeout, min_workers, cold_start_rate, warm_gpu_hours, cost_usd, window_start, window_end
FROM vast_pipelines.idle_timeout_what_if
WHERE recommended
ORDER BY model
"""

_INSERT_BACKTEST = """
INSERT INTO vast_pipelines.alert_backtests (run_id, first_day, end_day, thresholds, firings, report_markdown)
VALUES (:run_id, :first_day, :end_day, CAST(:thresholds AS jsonb), CAST(:firings AS jsonb), :report)
ON CONFLICT (run_id) DO UPDATE
SET ran_at = now(), firings = EXCLUDED.firings, report_markdown = EXCLUDED.report_markdown
"""


class InsightStore(Store):
    """Reconciliation days, the idle-timeout what-if grid and backtest runs."""

    def save_reconciliation(self, days: list[tuple[DayReconciliation, LoggedDay]], run_id: str | None) -> None:
        """Keep each day's logged vs billed figures (a re-run replaces them)."""
        rows = [
            {
                "day": r.day,
                "logged": logged.logged,
                "requests": logged.requests,
                "null_cost_requests": logged.null_cost_requests,
                "billed": r.billed,
                "difference": r.difference,
                "share": r.share,
                "diverged": r.diverged,
                "run_id": run_id,
            }
            for r, logged in days
        ]
        if rows:
            with self._begin() as conn:
                conn.execute(sa.text(_UPSERT_RECONCILIATION), rows)

    def reconciliation_between(self, first: date, end: date) -> list[dict[str, Any]]:
        """Stored reconciliation days of ``[first, end)``."""
        with self._begin() as conn:
            rows = conn.execute(sa.text(_RECONCILIATION_BETWEEN), {"first": first, "end": end})
            return [dict(row) for row in rows.mappings()]

    def save_what_if(self, rows: list[dict[str, Any]]) -> None:
        """Replace the what-if grid with this run's (one row per model and setting)."""
        with self._begin() as conn:
            conn.execute(sa.text(_DELETE_WHAT_IF))
            if rows:
                conn.execute(sa.text(_INSERT_WHAT_IF), rows)

    def recommended_settings(self) -> list[dict[str, Any]]:
        """The latest what-if's recommended setting per model."""
        with self._begin() as conn:
            return [dict(row) for row in conn.execute(sa.text(_WHAT_IF_RECOMMENDED)).mappings()]

    def save_backtest(
        self,
        *,
        run_id: str,
        first_day: date,
        end_day: date,
        thresholds: dict[str, Any],
        firings: list[dict[str, Any]],
        report: str,
    ) -> None:
        """Keep one backtest run: its window, thresholds, firings and report."""
        with self._begin() as conn:
            conn.execute(
                sa.text(_INSERT_BACKTEST),
                {
                    "run_id": run_id,
                    "first_day": first_day,
                    "end_day": end_day,
                    "thresholds": json.dumps(thresholds),
                    "firings": json.dumps(firings, default=str),
                    "report": report,
                },
            )
