"""What one tick of `runaway_cost_sensor` / `budget_alert_sensor` costs on a busy database.

Fills a scratch database on the embedded PostgreSQL with N synthetic requests spread over the last D days,
then times the tick's one statement (`SpendStore.summary`: today, month-to-date and the last
7 days in one indexed range scan) and prints the plan. Nothing outside this machine is touched.

    .venv/bin/python -m benchmarks.sensor_tick --rows 1000000 --days 365
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import sqlalchemy as sa

from vast_pipelines.connect.embedded import embedded_server_url
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine
from vast_pipelines.store.cost_table import COST_TABLE_DDL
from vast_pipelines.store.spend import SUMMARY as SPEND_SUMMARY
from vast_pipelines.store.spend import spend_parameters

DATABASE = "bench_sensor_tick"


def fill(url: str, rows: int, days: int, now: datetime, seed: int = 11) -> None:
    """``rows`` requests, uniformly over the last ``days`` days, written with COPY."""
    rng = random.Random(seed)
    span = days * 86400.0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for statement in COST_TABLE_DDL:
            cur.execute(statement)
        with cur.copy('COPY vast_ai_costs ("timestamp", model, cost, duration, cold_start) FROM STDIN') as copy:
            for _ in range(rows):
                cold = rng.random() < 0.1
                duration = rng.uniform(0.5, 3.0) + (20.0 if cold else 0.0)
                copy.write_row(
                    (
                        now - timedelta(seconds=rng.random() * span),
                        "llama-2-7b",
                        round(duration * 0.0005, 6),
                        duration,
                        cold,
                    )
                )
        cur.execute("ANALYZE vast_ai_costs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--ticks", type=int, default=30, help="timed evaluations of the tick's query")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vast-bench-") as home:
        url = embedded_server_url(Path(home), database=DATABASE)
        now = datetime.now(UTC)
        started = time.perf_counter()
        fill(url, args.rows, args.days, now)
        print(f"filled {args.rows:,} requests over {args.days} days in {time.perf_counter() - started:.1f} s")

        database = AnalyticsDatabase(url=url)
        periods = periods_at(now, ZoneInfo("UTC"))
        summary = database.spend.summary(periods)  # warm the pool and the cache, as a running sensor has
        timings = []
        for _ in range(args.ticks):
            t0 = time.perf_counter()
            database.spend.summary(periods)
            timings.append((time.perf_counter() - t0) * 1000.0)
        timings.sort()
        p95 = timings[max(int(len(timings) * 0.95) - 1, 0)]
        print(
            f"tick query over {summary.month_requests:,} requests this month (last 7 days and today included): "
            f"median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms "
            f"({args.ticks} ticks)"
        )
        with database.begin() as conn:
            plan = conn.execute(sa.text("EXPLAIN " + SPEND_SUMMARY), spend_parameters(periods)).scalars()
            print("plan:", " | ".join(line.strip() for line in plan))
        dispose_engine(url)


if __name__ == "__main__":
    main()
