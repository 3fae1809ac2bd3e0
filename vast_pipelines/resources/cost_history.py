"""Reads and writes of the cost history (``vast_pipelines.daily_cost_history``) and the cost reports.

Functions over ``AnalyticsDatabase`` rather than methods on it: one I/O module per capability.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from vast_pipelines import sql
from vast_pipelines.domain.costs import CostDriver, CostTotals, HistoryRow, LatencySummary, Percentiles
from vast_pipelines.resources.database import AnalyticsDatabase, json_document

_TOTAL_COLUMNS = (
    "requests",
    "cost",
    "cold_start_requests",
    "cold_start_cost",
    "cold_start_costed_requests",
    "duration_sum",
    "duration_count",
    "cold_duration_sum",
    "cold_duration_count",
    "null_cost_requests",
    "null_duration_requests",
    "negative_cost_requests",
    "invalid_cost_requests",
    "credit_cost",
)


@dataclass(frozen=True)
class RolledUpDay:
    """A day present in the history: when and in which time zone it was rolled up."""

    day: date
    timezone: str
    requests: int
    refreshed_at: datetime


@dataclass(frozen=True)
class CostHistory:
    """The rollup rows and rolled-up days of a date range."""

    rows: list[HistoryRow]
    days: dict[date, RolledUpDay]


def refresh_day(
    database: AnalyticsDatabase,
    *,
    day: date,
    window_start: datetime,
    window_end: datetime,
    timezone: str,
    run_id: str | None,
) -> int:
    """Replace ``day``'s rollup from ``vast_ai_costs`` in one transaction; returns the day's request count."""
    database.check_cost_table()
    with database.begin() as conn:
        conn.execute(
            sa.text(sql.LOCK_COST_HISTORY_DAY),
            {"lock_key": sql.COST_HISTORY_LOCK_KEY, "day_number": day.toordinal()},
        )
        conn.execute(sa.text(sql.DELETE_COST_HISTORY_DAY), {"day": day})
        totals = conn.execute(
            sa.text(sql.COST_HISTORY_DAY_TOTALS),
            {"window_start": window_start, "window_end": window_end, "no_model": sql.NO_MODEL},
        ).mappings().all()
        if totals:
            conn.execute(sa.text(sql.INSERT_COST_HISTORY_ROW), [{**row, "day": day} for row in totals])
        requests = sum(row["requests"] for row in totals)
        conn.execute(
            sa.text(sql.UPSERT_COST_HISTORY_DAY),
            {
                "day": day,
                "timezone": timezone,
                "window_start": window_start,
                "window_end": window_end,
                "requests": requests,
                "run_id": run_id,
            },
        )
    return requests


def read_history(database: AnalyticsDatabase, first: date, end: date) -> CostHistory:
    """The rollup of ``[first, end)``: a few rows per day whatever the request volume."""
    params = {"first": first, "end": end}
    with database.begin() as conn:
        rows = conn.execute(sa.text(sql.COST_HISTORY_ROWS), params).mappings().all()
        days = conn.execute(sa.text(sql.COST_HISTORY_DAYS), params).mappings().all()
    return CostHistory(
        rows=[HistoryRow(row["day"], row["model"], CostTotals(**{c: row[c] for c in _TOTAL_COLUMNS})) for row in rows],
        days={d["day"]: RolledUpDay(d["day"], d["timezone"], d["requests"], d["refreshed_at"]) for d in days},
    )


def save_report(
    database: AnalyticsDatabase,
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
    with database.begin() as conn:
        conn.execute(
            sa.text(sql.UPSERT_COST_REPORT),
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
            conn.execute(sa.text(sql.DELETE_WEEKLY_COST_REPORT), {"week_start": period_start})
            if weekly_days:
                conn.execute(
                    sa.text(sql.INSERT_WEEKLY_COST_REPORT), [{"week_start": period_start, **d} for d in weekly_days]
                )


def top_cost_drivers(database: AnalyticsDatabase, start: datetime, now: datetime) -> list[CostDriver]:
    """Per model since ``start`` (local midnight): requests, cost, mean duration, warm/cold split."""
    database.check_cost_table()
    with database.begin() as conn:
        rows = conn.execute(
            sa.text(sql.TOP_COST_DRIVERS), {"start": start, "now": now, "no_model": sql.NO_MODEL}
        ).mappings()
        return [CostDriver(**row) for row in rows]


def latency_summary(database: AnalyticsDatabase, start: datetime, now: datetime) -> LatencySummary:
    """Duration percentiles and the cold-start rate over ``[start, now]``."""
    database.check_cost_table(("timestamp", "duration", "cold_start"))
    with database.begin() as conn:
        row = conn.execute(sa.text(sql.LATENCY_PERCENTILES), {"start": start, "now": now}).mappings().one()
    rate = row["cold_start_rate"]
    return LatencySummary(
        requests=row["requests"],
        timed_requests=row["timed_requests"],
        cold_start_requests=row["cold_start_requests"],
        cold_start_rate=float(rate) if rate is not None else None,
        overall=Percentiles(row["p50_sec"], row["p95_sec"], row["p99_sec"]),
        warm=Percentiles(*(row["warm"] or (None, None, None))),
        cold=Percentiles(*(row["cold"] or (None, None, None))),
    )
