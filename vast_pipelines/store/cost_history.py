"""``daily_cost_history``: the daily rollup of ``vast_ai_costs`` that every cost report reads, one row per local
day and model, and ``daily_cost_history_days``: which days were rolled up, in which time zone."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime

import sqlalchemy as sa

from vast_pipelines.domain.costs import CostTotals, HistoryRow
from vast_pipelines.store.base import Migration, Store
from vast_pipelines.store.cost_table import CHARGED, CREDIT, FINITE_DURATION, INVALID_COST, MODEL_LABEL, NO_MODEL

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.daily_cost_history (
                day date NOT NULL,
                model text NOT NULL,
                requests bigint NOT NULL,
                cost numeric,
                cold_start_requests bigint NOT NULL,
                cold_start_cost numeric,
                cold_start_costed_requests bigint NOT NULL,
                duration_sum double precision,
                duration_count bigint NOT NULL,
                cold_duration_sum double precision,
                cold_duration_count bigint NOT NULL,
                null_cost_requests bigint NOT NULL,
                null_duration_requests bigint NOT NULL,
                negative_cost_requests bigint NOT NULL,
                PRIMARY KEY (day, model)
            )
            """,
            # Rows whose cost is not a finite number, and the credits (negative costs) summed apart.
            """
            ALTER TABLE vast_pipelines.daily_cost_history
                ADD COLUMN IF NOT EXISTS invalid_cost_requests bigint NOT NULL DEFAULT 0,
                ADD COLUMN IF NOT EXISTS credit_cost numeric
            """,
            # An empty day is a row here and none above.
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.daily_cost_history_days (
                day date PRIMARY KEY,
                timezone text NOT NULL,
                window_start timestamptz NOT NULL,
                window_end timestamptz NOT NULL,
                requests bigint NOT NULL,
                refreshed_at timestamptz NOT NULL DEFAULT now(),
                run_id text
            )
            """,
            # Days rolled up before costs were checked for being finite (a NaN stored) or credits kept apart (net
            # of a negative cost, no credit_cost): forgotten, so the spend statement reads them raw and the reports
            # roll them up again. A day rolled up since has credit_cost set whenever it had a negative cost.
            """
            DELETE FROM vast_pipelines.daily_cost_history_days d
            WHERE EXISTS (
                SELECT 1 FROM vast_pipelines.daily_cost_history h
                WHERE h.day = d.day AND (
                    NOT (h.cost BETWEEN -1e12 AND 1e12)
                    OR NOT (h.cold_start_cost BETWEEN -1e12 AND 1e12)
                    OR 'NaN' IN (h.duration_sum, h.cold_duration_sum)
                    OR (h.negative_cost_requests > 0 AND h.credit_cost IS NULL)
                )
            )
            """,
        ),
    ),
)

# The totals a row holds, in ``CostTotals``' order: the column list of every statement below.
TOTALS = tuple(f.name for f in fields(CostTotals))

# Serialises concurrent rollups of the same day (a schedule tick and a manual re-run); second key: the day.
LOCK_KEY = 0x7A57_0003

_LOCK_DAY = "SELECT pg_advisory_xact_lock(:lock_key, :day_number)"

_DELETE_DAY = "DELETE FROM vast_pipelines.daily_cost_history WHERE day = :day"

# The day's totals per model over the local day [window_start, window_end), read with a plain SELECT so that
# PostgreSQL may split the scan across parallel workers (an INSERT ... SELECT never runs in parallel: this took
# twice as long as the SELECT alone); the few rows are then written by _INSERT_ROW.
_DAY_TOTALS = f"""
SELECT
    model,
    COUNT(*) AS requests,
    SUM(charged) AS cost,
    COUNT(*) FILTER (WHERE cold_start) AS cold_start_requests,
    SUM(charged) FILTER (WHERE cold_start) AS cold_start_cost,
    COUNT(costed) FILTER (WHERE cold_start) AS cold_start_costed_requests,
    SUM(timed) AS duration_sum,
    COUNT(timed) AS duration_count,
    SUM(timed) FILTER (WHERE cold_start) AS cold_duration_sum,
    COUNT(timed) FILTER (WHERE cold_start) AS cold_duration_count,
    COUNT(missing) AS null_cost_requests,
    COUNT(*) - COUNT(timed) AS null_duration_requests,
    COUNT(credit) AS negative_cost_requests,
    COUNT(invalid) AS invalid_cost_requests,
    SUM(credit) AS credit_cost
FROM (
    SELECT
        {MODEL_LABEL} AS model,
        cold_start,
        CASE WHEN {CHARGED} THEN cost END AS charged,
        CASE WHEN {CHARGED} OR {CREDIT} THEN 1 END AS costed,
        CASE WHEN {CREDIT} THEN cost END AS credit,
        CASE WHEN {INVALID_COST} THEN 1 END AS invalid,
        CASE WHEN cost IS NULL THEN 1 END AS missing,
        CASE WHEN {FINITE_DURATION} THEN duration END AS timed
    FROM vast_ai_costs
    WHERE "timestamp" >= :window_start AND "timestamp" < :window_end
) c
GROUP BY model
"""

_INSERT_ROW = f"""
INSERT INTO vast_pipelines.daily_cost_history (day, model, {", ".join(TOTALS)})
VALUES (:day, :model, {", ".join(f":{c}" for c in TOTALS)})
"""

_UPSERT_DAY = """
INSERT INTO vast_pipelines.daily_cost_history_days (day, timezone, window_start, window_end, requests, run_id)
VALUES (:day, :timezone, :window_start, :window_end, :requests, :run_id)
ON CONFLICT (day) DO UPDATE
SET timezone = EXCLUDED.timezone, window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
    requests = EXCLUDED.requests, refreshed_at = now(), run_id = EXCLUDED.run_id
"""

_ROWS = f"""
SELECT day, model, {", ".join(TOTALS)}
FROM vast_pipelines.daily_cost_history
WHERE day >= :first AND day < :end
ORDER BY day, model
"""

_DAYS = """
SELECT day, timezone, requests, refreshed_at
FROM vast_pipelines.daily_cost_history_days
WHERE day >= :first AND day < :end
ORDER BY day
"""


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


class CostHistoryStore(Store):
    """The daily rollup: refreshed per day, read per date range."""

    def refresh_day(
        self, *, day: date, window_start: datetime, window_end: datetime, timezone: str, run_id: str | None
    ) -> int:
        """Replace ``day``'s rollup from ``vast_ai_costs`` in one transaction; returns the day's request count."""
        self._database.check_cost_table()
        with self._begin() as conn:
            conn.execute(sa.text(_LOCK_DAY), {"lock_key": LOCK_KEY, "day_number": day.toordinal()})
            conn.execute(sa.text(_DELETE_DAY), {"day": day})
            totals = (
                conn.execute(
                    sa.text(_DAY_TOTALS), {"window_start": window_start, "window_end": window_end, "no_model": NO_MODEL}
                )
                .mappings()
                .all()
            )
            if totals:
                conn.execute(sa.text(_INSERT_ROW), [{**row, "day": day} for row in totals])
            requests = sum(row["requests"] for row in totals)
            conn.execute(
                sa.text(_UPSERT_DAY),
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

    def read(self, first: date, end: date) -> CostHistory:
        """The rollup of ``[first, end)``: a few rows per day whatever the request volume."""
        params = {"first": first, "end": end}
        with self._begin() as conn:
            rows = conn.execute(sa.text(_ROWS), params).mappings().all()
            days = conn.execute(sa.text(_DAYS), params).mappings().all()
        return CostHistory(
            rows=[HistoryRow(row["day"], row["model"], CostTotals(**{c: row[c] for c in TOTALS})) for row in rows],
            days={d["day"]: RolledUpDay(d["day"], d["timezone"], d["requests"], d["refreshed_at"]) for d in days},
        )
