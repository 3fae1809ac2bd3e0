"""``spend_minutes``: today's (and yesterday's) spend pre-summed per UTC minute and model, kept current within
the caller's transaction (what to sum and when: ``store.minute_plan``).

A sensor tick then reads a few thousand small rows plus the last minute of raw rows instead of every row of the
day. Each minute lies within one local day in every zone whose offset is whole minutes (all of today's zones).
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vast_pipelines.domain.periods import Periods
from vast_pipelines.store.base import Migration
from vast_pipelines.store.cost_table import CHARGED, CREDIT, INVALID_COST, MODEL_LABEL, NO_MODEL
from vast_pipelines.store.minute_plan import (
    SWEEP_ROWS,
    Coverage,
    minute_runs,
    minutes_fit,
    plan_refresh,
    sweep_from,
    sweep_slice,
)

MIGRATIONS = (
    Migration(
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.spend_minutes (
                minute timestamptz NOT NULL,
                model text NOT NULL,
                requests bigint NOT NULL,
                charged numeric,
                costed_requests bigint NOT NULL,
                credit numeric,
                credit_requests bigint NOT NULL,
                invalid_requests bigint NOT NULL,
                null_requests bigint NOT NULL,
                PRIMARY KEY (minute, model)
            )
            """,
            # What spend_minutes holds: every row of [covered_from, summed_through) as of the last refresh; the
            # sweep re-sums it from summed_through downwards, swept_down_to being how far down this pass got.
            """
            CREATE TABLE IF NOT EXISTS vast_pipelines.spend_minutes_state (
                id boolean PRIMARY KEY DEFAULT true CHECK (id),
                covered_from timestamptz NOT NULL,
                summed_through timestamptz NOT NULL,
                swept_down_to timestamptz NOT NULL,
                refreshed_at timestamptz NOT NULL DEFAULT now()
            )
            """,
        ),
    ),
)

# The minutes of spend_minutes are UTC minutes (date_bin from this origin), the same in every time zone.
MINUTE_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"

# One refresher at a time (a second tick or process reads what the first committed instead of waiting).
LOCK_KEY = 0x7A57_0014

_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(:lock_key)"

_STATE = "SELECT covered_from, summed_through, swept_down_to FROM vast_pipelines.spend_minutes_state WHERE id"

_SAVE_STATE = """
INSERT INTO vast_pipelines.spend_minutes_state (id, covered_from, summed_through, swept_down_to)
VALUES (true, :covered_from, :summed_through, :swept_down_to)
ON CONFLICT (id) DO UPDATE
SET covered_from = EXCLUDED.covered_from, summed_through = EXCLUDED.summed_through,
    swept_down_to = EXCLUDED.swept_down_to, refreshed_at = now()
"""

# Minutes before what is kept (yesterday and today) or all of them (a reset).
_PRUNE = "DELETE FROM vast_pipelines.spend_minutes WHERE minute < :keep_from OR :reset"

_DELETE = "DELETE FROM vast_pipelines.spend_minutes WHERE minute >= :start AND minute < :end"

# Re-sums the whole minutes of [start, end) from the raw rows (one index range scan), replacing what was there:
# summing a range twice (two refreshers, or a sweep after an advance) never counts a row twice.
_SUM = f"""
INSERT INTO vast_pipelines.spend_minutes (
    minute, model, requests, charged, costed_requests, credit, credit_requests, invalid_requests, null_requests
)
SELECT
    date_bin('1 minute', "timestamp", {MINUTE_ORIGIN}),
    {MODEL_LABEL},
    COUNT(*),
    SUM(cost) FILTER (WHERE {CHARGED}),
    COUNT(*) FILTER (WHERE {CHARGED} OR {CREDIT}),
    SUM(cost) FILTER (WHERE {CREDIT}),
    COUNT(*) FILTER (WHERE {CREDIT}),
    COUNT(*) FILTER (WHERE {INVALID_COST}),
    COUNT(*) FILTER (WHERE cost IS NULL)
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end
GROUP BY 1, 2
ON CONFLICT (minute, model) DO UPDATE
SET requests = EXCLUDED.requests, charged = EXCLUDED.charged, costed_requests = EXCLUDED.costed_requests,
    credit = EXCLUDED.credit, credit_requests = EXCLUDED.credit_requests,
    invalid_requests = EXCLUDED.invalid_requests, null_requests = EXCLUDED.null_requests
"""

# The sweep's first, cheaper check of [start, end): whether the rows there still number what was summed (one
# COUNT over the "timestamp" index, no grouping). Only when they do not are the minutes compared one by one.
_UNCHANGED = """
SELECT (SELECT COUNT(*) FROM vast_ai_costs WHERE "timestamp" >= :start AND "timestamp" < :end)
    = (SELECT COALESCE(SUM(requests), 0) FROM vast_pipelines.spend_minutes WHERE minute >= :start AND minute < :end)
"""

# The sweep's check of [start, end): the minutes whose row count differs from what was summed (a row logged late,
# or deleted). Counting reads the "timestamp" index only (no cost, no model), several times cheaper than summing;
# only the minutes found are summed again. A cost changed in place (an UPDATE: agent-router only appends) is not
# seen here; the daily rollup of that day reads it.
_CHANGED = f"""
WITH counted AS (
    SELECT date_bin('1 minute', "timestamp", {MINUTE_ORIGIN}) AS minute, COUNT(*) AS requests
    FROM vast_ai_costs
    WHERE "timestamp" >= :start AND "timestamp" < :end
    GROUP BY 1
),
summed AS (
    SELECT minute, SUM(requests) AS requests
    FROM vast_pipelines.spend_minutes
    WHERE minute >= :start AND minute < :end
    GROUP BY 1
)
SELECT COALESCE(c.minute, s.minute) AS minute
FROM counted c FULL JOIN summed s ON s.minute = c.minute
WHERE c.requests IS DISTINCT FROM s.requests
ORDER BY 1
"""

# The sweep's next slice below :below: the newest minute at which the rows already summed from there up to
# :below exceed :budget (NULL: everything down to :floor fits). It walks the primary key newest first and stops at
# the first (minute, model) row that passes the budget: the minute is the same as summing per minute first would
# give (every row of the newer minutes came before it), without reading the rest of the day. The outer ORDER BY
# makes "first" certain; it is the index's order, so PostgreSQL still stops there (no sort).
_SLICE_START = """
SELECT minute FROM (
    SELECT minute, SUM(requests) OVER (ORDER BY minute DESC, model DESC ROWS UNBOUNDED PRECEDING) AS rows_down_to
    FROM vast_pipelines.spend_minutes
    WHERE minute >= :floor AND minute < :below
) s
WHERE rows_down_to > :budget
ORDER BY minute DESC
LIMIT 1
"""


def coverage(conn: Connection) -> Coverage | None:
    """What ``spend_minutes`` holds, as last committed (None: nothing yet)."""
    row = conn.execute(sa.text(_STATE)).first()
    return Coverage(*row) if row else None


def refresh(conn: Connection, periods: Periods, *, rolling_24h: bool, sweep_rows: int = SWEEP_ROWS) -> Coverage | None:
    """Sum the rows that settled since the last refresh, check one bounded slice of older minutes by its row count
    (and, when that changed, minute by minute) and re-sum the minutes that changed (rows logged late), and return
    the coverage the spend statement may read.

    Only one refresher works at a time (an advisory lock for this transaction); another one finding it taken
    does not wait: it reads the coverage last committed, whose minutes and watermark were committed together.
    """
    if not minutes_fit(periods):
        return None
    if not conn.execute(sa.text(_TRY_LOCK), {"lock_key": LOCK_KEY}).scalar():
        return coverage(conn)
    plan = plan_refresh(coverage(conn), periods=periods, rolling_24h=rolling_24h)
    if plan.prune:
        conn.execute(sa.text(_PRUNE), {"keep_from": plan.keep_from, "reset": plan.reset})
    for start, end in plan.resum:
        _resum(conn, start, end)
    covered = plan.coverage
    below = sweep_from(covered)
    if below > covered.covered_from:
        newest_over = conn.execute(
            sa.text(_SLICE_START), {"floor": covered.covered_from, "below": below, "budget": sweep_rows}
        ).scalar()
        start, end = sweep_slice(covered, newest_over)
        window = {"start": start, "end": end}
        if not conn.execute(sa.text(_UNCHANGED), window).scalar():
            changed = conn.execute(sa.text(_CHANGED), window).scalars().all()
            for first, last in minute_runs(changed):
                _resum(conn, first, last)
        covered = replace(covered, swept_down_to=start)
    conn.execute(
        sa.text(_SAVE_STATE),
        {
            "covered_from": covered.covered_from,
            "summed_through": covered.summed_through,
            "swept_down_to": covered.swept_down_to,
        },
    )
    return covered


def _resum(conn: Connection, start: object, end: object) -> None:
    conn.execute(sa.text(_DELETE), {"start": start, "end": end})
    conn.execute(sa.text(_SUM), {"start": start, "end": end, "no_model": NO_MODEL})
