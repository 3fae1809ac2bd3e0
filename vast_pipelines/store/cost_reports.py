"""``cost_reports``: every cost report's figures and text, one row per report and period (re-runs replace it),
and ``weekly_cost_report``: the Weekly Review's table in the guide's columns."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from vast_pipelines.domain.costs import CostTotals
from vast_pipelines.store.base import Migration, Store, json_document

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.cost_reports (
                report text NOT NULL,
                period_start date NOT NULL,
                period_end date NOT NULL,
                timezone text NOT NULL,
                generated_at timestamptz NOT NULL DEFAULT now(),
                run_id text,
                cost numeric,
                requests bigint NOT NULL,
                cost_per_request numeric,
                verdict text NOT NULL,
                figures jsonb NOT NULL,
                report_markdown text NOT NULL,
                PRIMARY KEY (report, period_start)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.weekly_cost_report (
                week_start date NOT NULL,
                day date NOT NULL,
                daily_cost numeric,
                requests bigint NOT NULL,
                cost_per_request numeric,
                rolled_up boolean NOT NULL,
                PRIMARY KEY (week_start, day)
            )
            """,
        ),
    ),
)

_UPSERT_REPORT = """
INSERT INTO vast_pipelines.cost_reports (
    report, period_start, period_end, timezone, run_id, cost, requests, cost_per_request, verdict, figures,
    report_markdown
)
VALUES (
    :report, :period_start, :period_end, :timezone, :run_id, :cost, :requests, :cost_per_request, :verdict,
    CAST(:figures AS jsonb), :report_markdown
)
ON CONFLICT (report, period_start) DO UPDATE
SET period_end = EXCLUDED.period_end, timezone = EXCLUDED.timezone, generated_at = now(),
    run_id = EXCLUDED.run_id, cost = EXCLUDED.cost, requests = EXCLUDED.requests,
    cost_per_request = EXCLUDED.cost_per_request, verdict = EXCLUDED.verdict, figures = EXCLUDED.figures,
    report_markdown = EXCLUDED.report_markdown
"""

_DELETE_WEEK = "DELETE FROM vast_pipelines.weekly_cost_report WHERE week_start = :week_start"

_INSERT_WEEK_DAY = """
INSERT INTO vast_pipelines.weekly_cost_report (week_start, day, daily_cost, requests, cost_per_request, rolled_up)
VALUES (:week_start, :day, :daily_cost, :requests, :cost_per_request, :rolled_up)
"""

_REPORT_TEXT = """
SELECT report_markdown FROM vast_pipelines.cost_reports WHERE report = :report AND period_start = :period_start
"""


class CostReportStore(Store):
    """What each cost report said, kept beside the figures it said it from."""

    def save(
        self,
        *,
        report: str,
        period_start: date,
        period_end: date,
        timezone: str,
        run_id: str | None,
        totals: CostTotals,
        verdict: str,
        figures: dict[str, Any],
        markdown: str,
        weekly_days: list[dict[str, Any]] | None = None,
    ) -> None:
        """Keep a report's figures and text (replacing an earlier run of the same period)."""
        with self._begin() as conn:
            conn.execute(
                sa.text(_UPSERT_REPORT),
                {
                    "report": report,
                    "period_start": period_start,
                    "period_end": period_end,
                    "timezone": timezone,
                    "run_id": run_id,
                    "cost": totals.cost,
                    "requests": totals.requests,
                    "cost_per_request": totals.cost_per_request,
                    "verdict": verdict,
                    "figures": json_document(figures),
                    "report_markdown": markdown,
                },
            )
            if weekly_days is not None:
                conn.execute(sa.text(_DELETE_WEEK), {"week_start": period_start})
                if weekly_days:
                    conn.execute(sa.text(_INSERT_WEEK_DAY), [{"week_start": period_start, **d} for d in weekly_days])

    def text(self, report: str, period_start: date) -> str:
        """The Markdown of ``report`` for the period starting ``period_start`` (which must have been kept)."""
        with self._begin() as conn:
            return conn.execute(sa.text(_REPORT_TEXT), {"report": report, "period_start": period_start}).scalar_one()
