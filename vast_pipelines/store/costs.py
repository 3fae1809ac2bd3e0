"""Reads of ``vast_ai_costs`` beyond the spend windows: today's cost drivers, latency percentiles, recent
activity (for freshness), per-model spend per window, request traces, logged cost per UTC day, spend per minute."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa

from vast_pipelines.domain.costs import CostDriver, LatencySummary, Percentiles
from vast_pipelines.store.base import Store
from vast_pipelines.store.cost_table import CHARGED, FINITE_DURATION, INVALID_COST, MODEL_LABEL, NO_MODEL

# The guide's "Top cost drivers today", split warm/cold; models without a cost sort last, not first.
_TOP_COST_DRIVERS = f"""
SELECT
    {MODEL_LABEL} AS model,
    COUNT(*) AS requests,
    SUM(cost) FILTER (WHERE {CHARGED}) AS total_cost,
    AVG(duration) FILTER (WHERE {FINITE_DURATION}) AS avg_duration_sec,
    COUNT(*) FILTER (WHERE cold_start) AS cold_start_requests,
    SUM(cost) FILTER (WHERE cold_start AND {CHARGED}) AS cold_start_cost,
    AVG(duration) FILTER (WHERE cold_start IS NOT TRUE AND {FINITE_DURATION}) AS warm_avg_duration_sec,
    AVG(duration) FILTER (WHERE cold_start AND {FINITE_DURATION}) AS cold_avg_duration_sec,
    COUNT(*) FILTER (WHERE cost IS NULL OR {INVALID_COST}) AS null_cost_requests
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" <= :now
GROUP BY 1
ORDER BY total_cost DESC NULLS LAST, requests DESC
"""

# The guide's "Latency percentiles" over the last 24 h, plus the same for warm and for cold requests
# (one sort each: the array form of percentile_cont). Durations that are not numbers are left out.
_LATENCY_PERCENTILES = f"""
SELECT
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {FINITE_DURATION}) AS p50_sec,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {FINITE_DURATION}) AS p95_sec,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {FINITE_DURATION}) AS p99_sec,
    AVG(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_start_rate,
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration)
        FILTER (WHERE cold_start IS NOT TRUE AND {FINITE_DURATION}) AS warm,
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration)
        FILTER (WHERE cold_start AND {FINITE_DURATION}) AS cold,
    COUNT(*) AS requests,
    COUNT(*) FILTER (WHERE {FINITE_DURATION}) AS timed_requests,
    COUNT(*) FILTER (WHERE cold_start) AS cold_start_requests
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" <= :now
"""

# The newest request up to now: a backward index scan, however old it is.
_LATEST_REQUEST = 'SELECT MAX("timestamp") FROM vast_ai_costs WHERE "timestamp" <= :now'

# Requests in each window [start, end): one index range count per window.
_WINDOW_REQUEST_COUNTS = """
SELECT w.position, (
    SELECT COUNT(*) FROM vast_ai_costs c WHERE c."timestamp" >= w.start_at AND c."timestamp" < w.end_at
) AS requests
FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) WITH ORDINALITY
    AS w(start_at, end_at, position)
ORDER BY w.position
"""

# Spend and requests per model in each window [start, end): one index range scan per window.
_WINDOW_MODEL_SPEND = f"""
SELECT w.position, {MODEL_LABEL} AS model,
    SUM(c.cost) FILTER (WHERE {CHARGED}) AS cost, COUNT(*) AS requests
FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) WITH ORDINALITY
    AS w(start_at, end_at, position)
JOIN vast_ai_costs c ON c."timestamp" >= w.start_at AND c."timestamp" < w.end_at
GROUP BY 1, 2
"""

# Every request of [start, end) per model in time order, for the idle-timeout replay (streamed).
_REQUEST_TRACE = f"""
SELECT
    {MODEL_LABEL} AS model,
    EXTRACT(EPOCH FROM "timestamp") AS start_seconds,
    CASE WHEN {FINITE_DURATION} THEN GREATEST(duration, 0) ELSE 0 END AS duration,
    cold_start,
    CASE WHEN {CHARGED} THEN cost END AS cost
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end
ORDER BY 1, "timestamp"
"""

# Logged cost per UTC day (Vast.ai bills by UTC day) over [start, end).
_LOGGED_BY_UTC_DAY = f"""
SELECT
    CAST(("timestamp" AT TIME ZONE 'UTC') AS date) AS day,
    SUM(cost) FILTER (WHERE {CHARGED}) AS logged,
    COUNT(*) AS requests,
    COUNT(*) FILTER (WHERE cost IS NULL OR {INVALID_COST}) AS null_cost_requests
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end
GROUP BY 1
ORDER BY 1
"""

# One day's spend per minute, for the backtest's candidate days.
_MINUTE_SPEND = f"""
SELECT date_trunc('minute', "timestamp") AS at, SUM(cost) AS cost
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end AND {CHARGED}
GROUP BY 1
ORDER BY 1
"""


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


@dataclass(frozen=True)
class LoggedDay:
    """One UTC day of ``vast_ai_costs``: the sum of logged cost (None: nothing costed) and its requests."""

    logged: float | None
    requests: int
    null_cost_requests: int


class CostStore(Store):
    """Reads of ``vast_ai_costs`` for the troubleshooting checks and the insights."""

    def top_cost_drivers(self, start: datetime, now: datetime) -> list[CostDriver]:
        """Per model since ``start`` (local midnight): requests, cost, mean duration, warm/cold split."""
        self._database.check_cost_table()
        with self._begin() as conn:
            rows = conn.execute(sa.text(_TOP_COST_DRIVERS), {"start": start, "now": now, "no_model": NO_MODEL})
            return [CostDriver(**row) for row in rows.mappings()]

    def latency_summary(self, start: datetime, now: datetime) -> LatencySummary:
        """Duration percentiles and the cold-start rate over ``[start, now]``."""
        self._database.check_cost_table(("timestamp", "duration", "cold_start"))
        with self._begin() as conn:
            row = conn.execute(sa.text(_LATENCY_PERCENTILES), {"start": start, "now": now}).mappings().one()
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

    def latest_request(self, now: datetime) -> datetime | None:
        """The newest request up to ``now``; None when the table has none."""
        with self._begin() as conn:
            return conn.execute(sa.text(_LATEST_REQUEST), {"now": now}).scalar_one()

    def window_requests(self, windows: Sequence[tuple[datetime, datetime]]) -> list[int]:
        """The requests of each window ``[start, end)``, in order."""
        with self._begin() as conn:
            counts = conn.execute(
                sa.text(_WINDOW_REQUEST_COUNTS), {"starts": [s for s, _ in windows], "ends": [e for _, e in windows]}
            )
            return [row.requests for row in counts]

    def window_spend(
        self, windows: Sequence[tuple[datetime, datetime]]
    ) -> dict[tuple[int, str], tuple[float | None, int]]:
        """``(window index, model) -> (cost, requests)`` for each window ``[start, end)``; NULL costs are not money."""
        with self._begin() as conn:
            rows = conn.execute(
                sa.text(_WINDOW_MODEL_SPEND),
                {"starts": [s for s, _ in windows], "ends": [e for _, e in windows], "no_model": NO_MODEL},
            )
            return {
                (row.position - 1, row.model): (float(row.cost) if row.cost is not None else None, row.requests)
                for row in rows
            }

    def request_traces(self, start: datetime, end: datetime) -> Iterator[Trace]:
        """Each model's requests of ``[start, end)``, streamed from the server one model at a time."""
        with self._begin() as conn:
            result = conn.execution_options(stream_results=True, yield_per=10_000).execute(
                sa.text(_REQUEST_TRACE), {"start": start, "end": end, "no_model": NO_MODEL}
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

    def logged_by_utc_day(self, first: date, end: date) -> dict[date, LoggedDay]:
        """Logged cost per UTC day of ``[first, end)`` (one index range scan)."""
        start_at = datetime.combine(first, datetime.min.time(), UTC)
        end_at = datetime.combine(end, datetime.min.time(), UTC)
        with self._begin() as conn:
            rows = conn.execute(sa.text(_LOGGED_BY_UTC_DAY), {"start": start_at, "end": end_at})
            return {
                row.day: LoggedDay(
                    float(row.logged) if row.logged is not None else None, row.requests, row.null_cost_requests
                )
                for row in rows
            }

    def minute_spend(self, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        """Spend per minute over ``[start, end)``, in time order."""
        with self._begin() as conn:
            rows = conn.execute(sa.text(_MINUTE_SPEND), {"start": start, "end": end})
            return [(row.at, float(row.cost)) for row in rows]
