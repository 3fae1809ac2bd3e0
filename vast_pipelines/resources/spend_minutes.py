"""Keeps ``vast_pipelines.spend_minutes`` current within the caller's transaction (see ``policy.spend_minutes``)."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vast_pipelines import sql
from vast_pipelines.domain.periods import Periods
from vast_pipelines.policy.spend_minutes import (
    SWEEP_ROWS,
    Coverage,
    minute_runs,
    minutes_fit,
    plan_refresh,
    sweep_from,
    sweep_slice,
)


def coverage(conn: Connection) -> Coverage | None:
    """What ``spend_minutes`` holds, as last committed (None: nothing yet)."""
    row = conn.execute(sa.text(sql.SPEND_MINUTES_STATE)).first()
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
    if not conn.execute(sa.text(sql.TRY_LOCK_SPEND_MINUTES), {"lock_key": sql.SPEND_MINUTES_LOCK_KEY}).scalar():
        return coverage(conn)
    plan = plan_refresh(coverage(conn), periods=periods, rolling_24h=rolling_24h)
    if plan.prune:
        conn.execute(sa.text(sql.PRUNE_SPEND_MINUTES), {"keep_from": plan.keep_from, "reset": plan.reset})
    for start, end in plan.resum:
        _resum(conn, start, end)
    covered = plan.coverage
    below = sweep_from(covered)
    if below > covered.covered_from:
        newest_over = conn.execute(
            sa.text(sql.SWEEP_SLICE_START), {"floor": covered.covered_from, "below": below, "budget": sweep_rows}
        ).scalar()
        start, end = sweep_slice(covered, newest_over)
        window = {"start": start, "end": end}
        if not conn.execute(sa.text(sql.SPEND_MINUTES_UNCHANGED), window).scalar():
            changed = conn.execute(sa.text(sql.CHANGED_SPEND_MINUTES), window).scalars().all()
            for first, last in minute_runs(changed):
                _resum(conn, first, last)
        covered = replace(covered, swept_down_to=start)
    conn.execute(
        sa.text(sql.SAVE_SPEND_MINUTES_STATE),
        {
            "covered_from": covered.covered_from,
            "summed_through": covered.summed_through,
            "swept_down_to": covered.swept_down_to,
        },
    )
    return covered


def _resum(conn: Connection, start: object, end: object) -> None:
    conn.execute(sa.text(sql.DELETE_SPEND_MINUTES), {"start": start, "end": end})
    conn.execute(sa.text(sql.SUM_SPEND_MINUTES), {"start": start, "end": end, "no_model": sql.NO_MODEL})
