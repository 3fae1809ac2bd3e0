"""Which spend is read pre-summed (``spend_minutes``) and which raw, and how the pre-summed part is kept current.

The per-minute sensors read today's spend as whole UTC minutes already summed plus the raw rows since the last
summed minute. Keeping that current costs each refresh only the rows it has not summed yet, plus a bounded
re-check ("sweep") of minutes summed before, newest first, that catches rows logged late: agent-router owns
``vast_ai_costs``, so there is no insert-order column to tell a late row from an old one. The sweep counts each
minute's rows on the "timestamp" index and sums again only the minutes whose count changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from vast_pipelines.domain.periods import Periods

MINUTE = timedelta(minutes=1)
# Rows are summed once their minute is this old; the rows of the last minute or two are read raw every tick, so
# a row logged up to this late is counted at once.
SETTLE = timedelta(seconds=60)
# Rows re-counted per refresh by the sweep (by the counts already summed): a tick's cost is bounded whatever the
# traffic, and a pass over the minutes kept takes (their rows / this) refreshes: 20 to 40 at 1M requests a day.
SWEEP_ROWS = 50_000
# The most one refresh sums going forward: a first refresh late on a busy day (10M requests a day) catches up over
# a few ticks, each committing its part, rather than one tick summing the whole day past its statement timeout.
MAX_ADVANCE = timedelta(hours=6)


@dataclass(frozen=True)
class Coverage:
    """``spend_minutes`` holds every row of ``[covered_from, summed_through)`` as of its last refresh; the sweep
    has re-summed ``[swept_down_to, summed_through)`` in its current pass."""

    covered_from: datetime
    summed_through: datetime
    swept_down_to: datetime


@dataclass(frozen=True)
class RefreshPlan:
    """What one refresh does before sweeping: ranges ``[start, end)`` to re-sum, and the coverage after."""

    reset: bool
    keep_from: datetime
    prune: bool  # minutes before keep_from (or all, on a reset) are deleted: once a day, not every refresh
    resum: tuple[tuple[datetime, datetime], ...]
    coverage: Coverage


def floor_minute(at: datetime) -> datetime:
    """The start of ``at``'s UTC minute."""
    return at - timedelta(seconds=at.astimezone(UTC).second, microseconds=at.microsecond)


def ceil_minute(at: datetime) -> datetime:
    """The first minute boundary at or after ``at``."""
    floor = floor_minute(at)
    return floor if floor == at else floor + MINUTE


def minutes_fit(periods: Periods) -> bool:
    """Whether every UTC minute of yesterday and today lies within one local day (the zone's offsets are whole
    minutes), so that minutes summed in UTC add up to local days exactly."""
    instants = (periods.previous_day_start, periods.today_start, periods.now)
    tz = periods.month_start.tzinfo
    return all((tz.utcoffset(i.astimezone(tz)) or timedelta(0)).total_seconds() % 60 == 0 for i in instants)


def needed_from(periods: Periods, rolling_24h: bool) -> datetime:
    """Where the pre-summed minutes must start for these windows: today, or the rolling 24 h's first minute."""
    return min(periods.today_start, floor_minute(periods.rolling_24h_start)) if rolling_24h else periods.today_start


def plan_refresh(state: Coverage | None, *, periods: Periods, rolling_24h: bool) -> RefreshPlan:
    """Bring the coverage to ``periods.now``: forget minutes before yesterday, extend back to what these windows
    need, and sum the minutes that have settled since the last refresh (the only new rows read)."""
    now = periods.now
    need = needed_from(periods, rolling_24h)
    keep_from = min(need, periods.previous_day_start)
    target = max(floor_minute(now - SETTLE), need)
    if state is None or state.summed_through < keep_from or state.covered_from > now:
        # Nothing kept, or only minutes older than yesterday (a pause of days): start over from what is needed.
        target = min(target, need + MAX_ADVANCE)
        coverage = Coverage(need, target, target)
        return RefreshPlan(True, keep_from, True, ((need, target),) if target > need else (), coverage)
    resum = []
    covered_from = max(state.covered_from, keep_from)
    if need < covered_from:
        resum.append((need, covered_from))
        covered_from = need
    summed_through = state.summed_through
    if target > summed_through:
        target = min(target, summed_through + MAX_ADVANCE)
        resum.append((summed_through, target))
        summed_through = target
    coverage = replace(state, covered_from=covered_from, summed_through=summed_through)
    return RefreshPlan(False, keep_from, state.covered_from < keep_from, tuple(resum), coverage)


def sweep_slice(coverage: Coverage, newest_over_budget: datetime | None) -> tuple[datetime, datetime]:
    """The next range the sweep re-sums, ``[start, end)``: from where the pass stopped downwards, as far as the
    rows already summed stay within the budget (``newest_over_budget`` is the newest minute from which they do
    not, None when everything down to ``covered_from`` fits). A pass that reached the bottom starts again at the
    newest minute."""
    end = sweep_from(coverage)
    if newest_over_budget is None:
        start = coverage.covered_from
    else:
        start = newest_over_budget + MINUTE
        if start >= end:  # one minute alone is over the budget: it is re-summed alone
            start = newest_over_budget
    return max(start, coverage.covered_from), end


def sweep_from(coverage: Coverage) -> datetime:
    """Where the next slice ends (the sweep's current position, or the newest minute for a new pass)."""
    end = coverage.swept_down_to
    return end if coverage.covered_from < end <= coverage.summed_through else coverage.summed_through


def read_bounds(coverage: Coverage | None, periods: Periods, *, rolling_24h: bool) -> dict[str, datetime]:
    """The bound parameters that tell ``store.spend.SUMMARY`` what to read from ``spend_minutes``:
    ``[covered_from, summed_through)`` pre-summed, raw rows before and after; plus the raw rows of the minute in
    which the rolling 24 h starts (``[head_from, head_until)``) when that minute is read pre-summed."""
    now = periods.now
    usable = coverage is not None and minutes_fit(periods) and coverage.covered_from <= floor_minute(now)
    if not usable:
        # Everything raw: an empty pre-summed range at now.
        return {"covered_from": now, "summed_through": now, "head_from": now, "head_until": now}
    assert coverage is not None
    summed_through = min(coverage.summed_through, floor_minute(now))  # a clock set back reads raw from now
    covered_from = min(coverage.covered_from, summed_through)
    head_from = head_until = now
    start = periods.rolling_24h_start
    if rolling_24h and floor_minute(start) != start and covered_from <= floor_minute(start) < summed_through:
        head_from, head_until = start, ceil_minute(start)
    return {
        "covered_from": covered_from,
        "summed_through": summed_through,
        "head_from": head_from,
        "head_until": head_until,
    }


def minute_runs(minutes: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted minutes as ranges ``[start, end)`` of consecutive minutes (one re-sum each)."""
    runs: list[tuple[datetime, datetime]] = []
    for minute in minutes:
        if runs and runs[-1][1] == minute:
            runs[-1] = (runs[-1][0], minute + MINUTE)
        else:
            runs.append((minute, minute + MINUTE))
    return runs
