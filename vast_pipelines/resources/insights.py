"""Reads and writes of the insights: freshness, per-model window spend, request traces, billing
reconciliation, idle-timeout what-if, alert episodes and backtests.

Functions over ``AnalyticsDatabase``, like ``cost_history``: one I/O module per capability.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vast_pipelines import sql
from vast_pipelines.domain.insights import DayReconciliation, Freshness
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.policy.freshness import judge_freshness, same_hour_windows
from vast_pipelines.resources.database import AnalyticsDatabase, OutboxMessage, OutboxRow, queue_messages

FRESHNESS_WEEKS = 4


def cost_freshness(database: AnalyticsDatabase, now: datetime, limits: Thresholds) -> Freshness:
    """Whether ``vast_ai_costs`` went silent: its newest row against the same hours of the last 4 weeks."""
    gap = timedelta(minutes=limits.freshness_max_gap_minutes)
    windows = same_hour_windows(now, gap, FRESHNESS_WEEKS)
    with database.begin() as conn:
        latest = conn.execute(sa.text(sql.LATEST_REQUEST), {"now": now}).scalar_one()
        counts = [
            row.requests
            for row in conn.execute(
                sa.text(sql.WINDOW_REQUEST_COUNTS),
                {"starts": [s for s, _ in windows], "ends": [e for _, e in windows]},
            )
        ]
    return judge_freshness(latest, now, counts, gap, limits.freshness_min_expected_requests)


def window_spend(
    database: AnalyticsDatabase, windows: Sequence[tuple[datetime, datetime]]
) -> dict[tuple[int, str], tuple[float | None, int]]:
    """``(window index, model) -> (cost, requests)`` for each window ``[start, end)``; NULL costs are not money."""
    with database.begin() as conn:
        rows = conn.execute(
            sa.text(sql.WINDOW_MODEL_SPEND),
            {"starts": [s for s, _ in windows], "ends": [e for _, e in windows], "no_model": sql.NO_MODEL},
        )
        return {
            (row.position - 1, row.model): (float(row.cost) if row.cost is not None else None, row.requests)
            for row in rows
        }


@dataclass
class Trace:
    """One model's requests in time order (seconds since the epoch), compact for long windows."""

    model: str
    starts: array = field(default_factory=lambda: array("d"))
    durations: array = field(default_factory=lambda: array("d"))
    cold: list[bool | None] = field(default_factory=list)
    cost: float = 0.0
    costed: int = 0

    @property
    def busy_seconds(self) -> float:
        """GPU time in requests (the sum of their durations)."""
        return sum(self.durations)


def request_traces(database: AnalyticsDatabase, start: datetime, end: datetime) -> Iterator[Trace]:
    """Each model's requests of ``[start, end)``, streamed from the server one model at a time."""
    with database.begin() as conn:
        result = conn.execution_options(stream_results=True, yield_per=10_000).execute(
            sa.text(sql.REQUEST_TRACE), {"start": start, "end": end, "no_model": sql.NO_MODEL}
        )
        trace: Trace | None = None
        for row in result:
            if trace is None or row.model != trace.model:
                if trace is not None:
                    yield trace
                trace = Trace(row.model)
            trace.starts.append(float(row.start_seconds))
            trace.durations.append(float(row.duration))
            trace.cold.append(row.cold_start)
            if row.cost is not None:
                trace.cost += float(row.cost)
                trace.costed += 1
        if trace is not None:
            yield trace


def save_what_if(database: AnalyticsDatabase, rows: list[dict[str, Any]]) -> None:
    """Replace the what-if grid with this run's (one row per model and setting)."""
    with database.begin() as conn:
        conn.execute(sa.text(sql.DELETE_WHAT_IF))
        if rows:
            conn.execute(sa.text(sql.INSERT_WHAT_IF), rows)


def recommended_settings(database: AnalyticsDatabase) -> list[dict[str, Any]]:
    """The latest what-if's recommended setting per model."""
    with database.begin() as conn:
        return [dict(row) for row in conn.execute(sa.text(sql.WHAT_IF_RECOMMENDED)).mappings()]


@dataclass(frozen=True)
class LoggedDay:
    """One UTC day of ``vast_ai_costs``: the sum of logged cost (None: nothing costed) and its requests."""

    logged: float | None
    requests: int
    null_cost_requests: int


def logged_by_utc_day(database: AnalyticsDatabase, first: date, end: date) -> dict[date, LoggedDay]:
    """Logged cost per UTC day of ``[first, end)`` (one index range scan)."""
    start_at = datetime.combine(first, datetime.min.time(), UTC)
    end_at = datetime.combine(end, datetime.min.time(), UTC)
    with database.begin() as conn:
        rows = conn.execute(sa.text(sql.LOGGED_BY_UTC_DAY), {"start": start_at, "end": end_at})
        return {
            row.day: LoggedDay(
                float(row.logged) if row.logged is not None else None, row.requests, row.null_cost_requests
            )
            for row in rows
        }


def save_reconciliation(
    database: AnalyticsDatabase, days: list[tuple[DayReconciliation, LoggedDay]], run_id: str | None
) -> None:
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
        with database.begin() as conn:
            conn.execute(sa.text(sql.UPSERT_RECONCILIATION), rows)


def reconciliation_between(database: AnalyticsDatabase, first: date, end: date) -> list[dict[str, Any]]:
    """Stored reconciliation days of ``[first, end)``."""
    with database.begin() as conn:
        return [
            dict(row)
            for row in conn.execute(sa.text(sql.RECONCILIATION_BETWEEN), {"first": first, "end": end}).mappings()
        ]


def minute_spend(database: AnalyticsDatabase, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Spend per minute over ``[start, end)``, in time order."""
    with database.begin() as conn:
        rows = conn.execute(sa.text(sql.MINUTE_SPEND), {"start": start, "end": end})
        return [(row.at, float(row.cost)) for row in rows]


def save_backtest(
    database: AnalyticsDatabase,
    *,
    run_id: str,
    first_day: date,
    end_day: date,
    thresholds: dict[str, Any],
    firings: list[dict[str, Any]],
    report: str,
) -> None:
    """Keep one backtest run: its window, thresholds, firings and report."""
    with database.begin() as conn:
        conn.execute(
            sa.text(sql.INSERT_BACKTEST),
            {
                "run_id": run_id,
                "first_day": first_day,
                "end_day": end_day,
                "thresholds": json.dumps(thresholds),
                "firings": json.dumps(firings, default=str),
                "report": report,
            },
        )


# --- alert episodes ------------------------------------------------------------------------------


def open_episode(
    database: AnalyticsDatabase,
    *,
    kind: str,
    subject: str,
    summary: str,
    figures: dict[str, Any],
    messages: list[OutboxMessage],
) -> list[OutboxRow] | None:
    """Open the episode ``kind``/``subject`` and queue its alert in the same transaction.

    None when an episode is already open (its alert went out when it opened): once per episode.
    """
    with database.begin() as conn:
        opened = conn.execute(
            sa.text(sql.OPEN_EPISODE),
            {"kind": kind, "subject": subject, "summary": summary, "figures": json.dumps(figures, default=str)},
        ).scalar_one_or_none()
        if opened is None:
            return None
        return queue_messages(conn, messages)


def close_episodes(database: AnalyticsDatabase, kind: str, still_open: Sequence[str]) -> list[dict[str, Any]]:
    """Close the open ``kind`` episodes whose subject is not in ``still_open``; returns what was closed."""
    with database.begin() as conn:
        rows = conn.execute(sa.text(sql.CLOSE_EPISODES), {"kind": kind, "still_open": list(still_open)}).mappings()
        return [dict(row) for row in rows]


def episodes_between(database: AnalyticsDatabase, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Episodes open at any time in ``[start, end)``."""
    with database.begin() as conn:
        return [
            dict(row) for row in conn.execute(sa.text(sql.EPISODES_BETWEEN), {"start": start, "end": end}).mappings()
        ]
