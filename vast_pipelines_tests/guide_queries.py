"""The operations guide's queries exactly as it writes them: the parity tests and the benchmarks compare the
pipelines' figures with what these return on the same data."""

from __future__ import annotations

GUIDE_QUERIES: dict[str, str] = {
    "yesterdays_spend": (
        "SELECT '$' || ROUND(COALESCE(SUM(cost), 0)::numeric, 2) FROM vast_ai_costs "
        "WHERE timestamp >= NOW() - INTERVAL '1 day'"
    ),
    "current_month": (
        "SELECT DATE_TRUNC('day', timestamp)::date as day, ROUND(SUM(cost)::numeric, 2) as daily_cost, "
        "COUNT(*) as requests FROM vast_ai_costs WHERE timestamp >= DATE_TRUNC('month', NOW()) "
        "GROUP BY day ORDER BY day DESC"
    ),
    "top_cost_drivers": (
        "SELECT model, COUNT(*) as requests, ROUND(SUM(cost)::numeric, 2) as total_cost, "
        "ROUND(AVG(duration)::numeric, 2) as avg_duration_sec FROM vast_ai_costs "
        "WHERE timestamp >= CURRENT_DATE GROUP BY model ORDER BY total_cost DESC"
    ),
    "latency_percentiles": (
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration) as p50_sec, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) as p95_sec, "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY duration) as p99_sec, "
        "ROUND(AVG(CASE WHEN cold_start THEN 1 ELSE 0 END)::numeric, 2) as cold_start_rate "
        "FROM vast_ai_costs WHERE timestamp >= NOW() - INTERVAL '24 hours'"
    ),
    "weekly_review": (
        "SELECT DATE_TRUNC('day', timestamp)::date as day, ROUND(SUM(cost)::numeric, 2) as daily_cost, "
        "COUNT(*) as requests, ROUND((SUM(cost) / COUNT(*))::numeric, 5) as cost_per_request "
        "FROM vast_ai_costs WHERE timestamp >= NOW() - INTERVAL '7 days' GROUP BY day ORDER BY day DESC"
    ),
    "monthly_review": (
        "SELECT ROUND(SUM(cost)::numeric, 2) as monthly_cost, COUNT(*) as total_requests, "
        "ROUND((SUM(cost) / COUNT(*))::numeric, 5) as avg_cost_per_request FROM vast_ai_costs "
        "WHERE timestamp >= DATE_TRUNC('month', NOW())"
    ),
    "runaway_check": "SELECT ROUND(SUM(cost)::numeric, 2) FROM vast_ai_costs WHERE timestamp >= CURRENT_DATE",
}


def guide_query_between(name: str) -> str:
    """The guide's query with its rolling window pinned to ``[:start, :end)``: same SELECT, same GROUP BY."""
    head, _, tail = GUIDE_QUERIES[name].partition(" WHERE ")
    _, grouped, rest = tail.partition(" GROUP BY ")
    return f"{head} WHERE timestamp >= :start AND timestamp < :end" + (f" GROUP BY {rest}" if grouped else "")


def guide_query_at(name: str) -> str:
    """The guide's query as written, with ``NOW()`` and ``CURRENT_DATE`` bound to ``:now`` and ``:today``."""
    return (
        GUIDE_QUERIES[name]
        .replace("NOW()", "CAST(:now AS timestamptz)")
        .replace("CURRENT_DATE", "CAST(:today AS date)")
    )
