"""Every spend window of the health check and the budget and runaway sensors, in one statement over
``vast_ai_costs``, the daily rollup and ``spend_minutes``."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import sqlalchemy as sa

from vast_pipelines.domain.periods import Periods
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.store import spend_minutes
from vast_pipelines.store.base import Database, Store
from vast_pipelines.store.cost_table import CHARGED, COST_TABLE, CREDIT, INVALID_COST, SPEND_COLUMNS
from vast_pipelines.store.errors import DatabaseBadData
from vast_pipelines.store.minute_plan import read_bounds
from vast_pipelines.store.spend_minutes import MINUTE_ORIGIN

# One raw row's share of the spend columns, as the first branch of SUMMARY's raw rows lists them.
_CHARGED_COLUMNS = f"""CASE WHEN {CHARGED} THEN cost END,
        CASE WHEN {CHARGED} OR {CREDIT} THEN 1 ELSE 0 END,
        CASE WHEN {CREDIT} THEN cost END,
        CASE WHEN {CREDIT} THEN 1 ELSE 0 END,
        CASE WHEN {INVALID_COST} THEN 1 ELSE 0 END,
        CASE WHEN cost IS NULL THEN 1 ELSE 0 END"""

# Every spend window of the health check and the budget sensors in one statement that stays cheap at any
# volume: whole local days come from the rollup (daily_cost_history, rolled up in this time zone) up to the
# first day it lacks; raw rows are read (an index range on "timestamp") only from that day, or from the start
# of the rolling 24 h, whichever is earlier: normally yesterday and today. Callers that do not need the rolling
# 24 h (the per-minute sensors) pass with_rolling = false and read only from the first gap: normally today.
# Within [covered_from, summed_through) those rows are read pre-summed from spend_minutes (see
# store/minute_plan.py), so "raw" is normally the last minute or two; spend_parameters alone reads all raw.
SUMMARY = f"""
WITH needed AS (
    SELECT CAST(d AS date) AS day
    FROM generate_series(CAST(:history_first AS date), CAST(:today AS date) - 1, interval '1 day') AS d
),
first_gap AS (
    SELECT COALESCE(MIN(n.day), CAST(:today AS date)) AS day
    FROM needed n
    LEFT JOIN vast_pipelines.daily_cost_history_days h ON h.day = n.day AND h.timezone = :tz
    WHERE h.day IS NULL
),
history AS (
    SELECT
        SUM(h.cost) FILTER (WHERE h.day = :previous_day) AS previous_day_cost,
        SUM(h.requests) FILTER (WHERE h.day = :previous_day) AS previous_day_requests,
        SUM(h.requests - h.null_cost_requests - h.invalid_cost_requests) FILTER (WHERE h.day = :previous_day)
            AS previous_day_costed,
        SUM(h.cost) FILTER (WHERE h.day >= :month_first) AS month_cost,
        SUM(h.requests) FILTER (WHERE h.day >= :month_first) AS month_requests,
        SUM(h.requests - h.null_cost_requests - h.invalid_cost_requests) FILTER (WHERE h.day >= :month_first)
            AS month_costed,
        SUM(h.null_cost_requests) FILTER (WHERE h.day >= :month_first) AS month_null,
        SUM(h.negative_cost_requests) FILTER (WHERE h.day >= :month_first) AS month_negative,
        SUM(h.credit_cost) FILTER (WHERE h.day >= :month_first) AS month_credit,
        SUM(h.invalid_cost_requests) FILTER (WHERE h.day >= :month_first) AS month_invalid,
        SUM(h.cost) FILTER (WHERE h.day >= :week_first) AS week_cost
    FROM vast_pipelines.daily_cost_history h
    WHERE h.day >= :history_first AND h.day < (SELECT day FROM first_gap)
),
raw_from AS (
    SELECT CASE
        WHEN :with_rolling THEN LEAST(
            CAST(:rolling_start AS timestamptz), (SELECT CAST(day AS timestamp) AT TIME ZONE :tz FROM first_gap)
        )
        ELSE (SELECT CAST(day AS timestamp) AT TIME ZONE :tz FROM first_gap)
    END AS at
),
raw AS (
    -- Each row's cost is classified once (OFFSET 0 keeps the planner from repeating the tests in every sum).
    -- Raw rows are read before spend_minutes' coverage and after its watermark (normally the last minute only).
    SELECT
        "timestamp" AS at,
        false AS rolling_only,
        CASE WHEN {CHARGED} THEN cost END AS charged,
        CASE WHEN {CHARGED} OR {CREDIT} THEN 1 ELSE 0 END AS costed,
        CASE WHEN {CREDIT} THEN cost END AS credit,
        CASE WHEN {CREDIT} THEN 1 ELSE 0 END AS credit_requests,
        CASE WHEN {INVALID_COST} THEN 1 ELSE 0 END AS invalid,
        CASE WHEN cost IS NULL THEN 1 ELSE 0 END AS missing
    FROM vast_ai_costs
    -- The one-time test skips this scan when nothing lies before the coverage (the usual case); the constant
    -- bounds keep the planner on the index whatever the first gap turns out to be.
    WHERE (SELECT at FROM raw_from) < CAST(:covered_from AS timestamptz)
        AND "timestamp" >= (SELECT at FROM raw_from) AND "timestamp" < :covered_from AND "timestamp" <= :now
    UNION ALL
    SELECT "timestamp", false, {_CHARGED_COLUMNS}
    FROM vast_ai_costs
    WHERE "timestamp" >= :summed_through AND "timestamp" >= (SELECT at FROM raw_from) AND "timestamp" <= :now
    UNION ALL
    -- The rolling 24 h starts inside a pre-summed minute: that minute's rows from the start, for the 24 h only.
    SELECT "timestamp", true, {_CHARGED_COLUMNS}
    FROM vast_ai_costs
    WHERE :with_rolling AND "timestamp" >= :head_from AND "timestamp" < :head_until
    OFFSET 0
),
source AS (
    SELECT at, CAST((at AT TIME ZONE :tz) AS date) AS day, rolling_only, 1 AS requests, charged, costed, credit,
        credit_requests, invalid, missing
    FROM raw
    UNION ALL
    SELECT m.minute, CAST((m.minute AT TIME ZONE :tz) AS date), false, m.requests, m.charged, m.costed_requests,
        m.credit, m.credit_requests, m.invalid_requests, m.null_requests
    FROM vast_pipelines.spend_minutes m
    WHERE m.minute >= GREATEST(
            CAST(:covered_from AS timestamptz), date_bin('1 minute', (SELECT at FROM raw_from), {MINUTE_ORIGIN})
        )
        AND m.minute < :summed_through
),
-- A few thousand minute rows and the raw tail, grouped first by what the windows below tell apart (day, whether
-- the row is only for the rolling 24 h, whether it lies within it), so each FILTER runs over a handful of rows.
grouped AS (
    SELECT day, NOT rolling_only AS d, at >= :rolling_start AS in_rolling, SUM(requests) AS requests,
        SUM(charged) AS charged, SUM(costed) AS costed, SUM(credit) AS credit,
        SUM(credit_requests) AS credit_requests, SUM(invalid) AS invalid, SUM(missing) AS missing
    FROM source
    GROUP BY 1, 2, 3
),
recent AS (
    SELECT
        SUM(r.charged) FILTER (WHERE r.in_rolling) AS rolling_24h_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.in_rolling), 0) AS rolling_24h_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.in_rolling), 0) AS rolling_24h_costed,
        SUM(r.charged) FILTER (WHERE r.day = :today AND d) AS today_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.day = :today AND d), 0) AS today_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.day = :today AND d), 0) AS today_costed,
        COALESCE(SUM(r.missing) FILTER (WHERE r.day = :today AND d), 0) AS today_null,
        COALESCE(SUM(r.invalid) FILTER (WHERE r.day = :today AND d), 0) AS today_invalid,
        COALESCE(SUM(r.credit_requests) FILTER (WHERE r.day = :today AND d), 0) AS today_negative,
        -- Days the rollup did not answer (on or after the first gap) only, so nothing is counted twice.
        SUM(r.charged) FILTER (WHERE r.day = :previous_day AND r.day >= g.day AND d) AS previous_day_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.day = :previous_day AND r.day >= g.day AND d), 0)
            AS previous_day_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.day = :previous_day AND r.day >= g.day AND d), 0)
            AS previous_day_costed,
        SUM(r.charged) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d) AS month_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0)
            AS month_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0) AS month_costed,
        COALESCE(SUM(r.missing) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0) AS month_null,
        COALESCE(SUM(r.credit_requests) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0)
            AS month_negative,
        SUM(r.credit) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d) AS month_credit,
        COALESCE(SUM(r.invalid) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0) AS month_invalid,
        SUM(r.charged) FILTER (WHERE r.day >= :week_first AND r.day < :today AND r.day >= g.day AND d) AS week_cost
    FROM grouped r CROSS JOIN first_gap g
)
SELECT
    CASE WHEN :with_rolling THEN r.rolling_24h_cost END AS rolling_24h_cost,
    CAST(CASE WHEN :with_rolling THEN r.rolling_24h_requests ELSE 0 END AS bigint) AS rolling_24h_requests,
    CAST(CASE WHEN :with_rolling THEN r.rolling_24h_costed ELSE 0 END AS bigint) AS rolling_24h_costed_requests,
    COALESCE(h.previous_day_cost, 0) + COALESCE(r.previous_day_cost, 0) AS previous_day_cost,
    CAST(COALESCE(h.previous_day_requests, 0) + r.previous_day_requests AS bigint) AS previous_day_requests,
    CAST(COALESCE(h.previous_day_costed, 0) + r.previous_day_costed AS bigint) AS previous_day_costed_requests,
    r.today_cost,
    CAST(r.today_requests AS bigint) AS today_requests,
    CAST(r.today_costed AS bigint) AS today_costed_requests,
    CAST(r.today_null AS bigint) AS today_null_cost_rows,
    CAST(r.today_invalid AS bigint) AS today_invalid_cost_rows,
    CAST(r.today_negative AS bigint) AS today_negative_cost_rows,
    COALESCE(h.month_cost, 0) + COALESCE(r.month_cost, 0) AS month_to_date,
    CAST(COALESCE(h.month_requests, 0) + r.month_requests AS bigint) AS month_requests,
    CAST(COALESCE(h.month_costed, 0) + r.month_costed AS bigint) AS month_costed_requests,
    COALESCE(h.week_cost, 0) + COALESCE(r.week_cost, 0) AS last_7_days_cost,
    CAST(COALESCE(h.month_null, 0) + r.month_null AS bigint) AS month_null_cost_rows,
    CAST(COALESCE(h.month_negative, 0) + r.month_negative AS bigint) AS month_negative_cost_rows,
    COALESCE(h.month_credit, 0) + COALESCE(r.month_credit, 0) AS month_credit,
    CAST(COALESCE(h.month_invalid, 0) + r.month_invalid AS bigint) AS month_invalid_cost_rows,
    (SELECT COUNT(*) FROM vast_ai_costs WHERE "timestamp" > :now) AS future_rows,
    (SELECT MAX("timestamp") FROM vast_ai_costs WHERE "timestamp" <= :now) AS latest_request,
    (SELECT day FROM first_gap) AS raw_from_day
FROM recent r CROSS JOIN history h
"""

# The figures that are money; every other field of ``SpendSummary`` is a count (or the latest request) as read.
_MONEY = frozenset(
    {"rolling_24h_cost", "previous_day_cost", "today_cost", "month_to_date", "last_7_days_cost", "month_credit"}
)
# Whose ``vast_ai_costs`` columns were checked in this process (sensors read spend every minute).
_CHECKED: set[str] = set()


class SpendStore(Store):
    """Spend per window, read the same way by the health check and every spend sensor."""

    def __init__(self, database: Database, key: str) -> None:
        super().__init__(database)
        self._key = key

    def summary(self, periods: Periods, *, rolling_24h: bool = True) -> SpendSummary:
        """Rolling 24 h, previous day, today, month-to-date and last-7-days spend in one statement.

        Today's spend (and yesterday's) is read pre-summed per minute from ``spend_minutes``, brought up to date
        first (in a short transaction of its own), plus the raw rows of the last minute or so: a tick reads about
        the same whatever the traffic and the hour.

        ``rolling_24h=False`` (the per-minute sensors) skips the rolling 24 h window, which is the part that
        reaches back into yesterday's raw rows; its figures are then 0.

        The table's columns are checked once per process (sensors call this every minute); a query that
        fails on a missing table or column is explained by checking again.
        """
        if self._key not in _CHECKED:
            self._database.check_cost_table(SPEND_COLUMNS)
            _CHECKED.add(self._key)
        try:
            # The minutes are committed before the figures are read: a tick that fails reading (a statement timeout
            # on a first, busy day) still leaves the next one less to sum.
            with self._begin() as conn:
                covered = spend_minutes.refresh(conn, periods, rolling_24h=rolling_24h)
            with self._begin() as conn:
                params = {
                    **spend_parameters(periods),
                    **read_bounds(covered, periods, rolling_24h=rolling_24h),
                    "with_rolling": rolling_24h,
                }
                row = conn.execute(sa.text(SUMMARY), params).mappings().one()
        except sa.exc.ProgrammingError:
            _CHECKED.discard(self._key)
            self._database.check_cost_table(SPEND_COLUMNS)
            raise
        return SpendSummary(
            **{f.name: _money(row[f.name]) if f.name in _MONEY else row[f.name] for f in fields(SpendSummary)}
        )


def forget_checked(key: str) -> None:
    """Check ``vast_ai_costs`` again before the next read of database ``key`` (it was dropped or replaced)."""
    _CHECKED.discard(key)


def spend_parameters(periods: Periods) -> dict[str, Any]:
    """The bound parameters of ``SUMMARY`` for ``periods``, reading every row raw."""
    tz = periods.month_start.tzinfo
    today = periods.today_start.date()
    week_first = periods.last_7_days_start.date()
    month_first = periods.month_start.date()
    return {
        "now": periods.now,
        "rolling_start": periods.rolling_24h_start,
        "tz": getattr(tz, "key", "UTC"),
        "today": today,
        "previous_day": periods.previous_day_start.date(),
        "month_first": month_first,
        "week_first": week_first,
        "history_first": min(month_first, week_first),
        "with_rolling": True,
        # Nothing pre-summed: every row raw (``read_bounds`` of the coverage replaces these).
        **read_bounds(None, periods, rolling_24h=True),
    }


def _money(value: Any) -> float:
    """SUM over no rows is NULL: the sum of no logged cost is 0 (whether that is "no data" is decided apart).

    The statement sums finite costs only; a sum that is still not finite fails loud rather than reach a verdict
    (NaN compares false with every limit, which would switch the runaway check off).
    """
    money = float(value) if value is not None else 0.0
    if not math.isfinite(money):
        raise DatabaseBadData(f"A spend figure read from {COST_TABLE} is {money}, not an amount of money.")
    return money
