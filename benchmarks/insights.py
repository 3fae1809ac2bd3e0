"""What the insights cost on a busy database: freshness (added to every budget/runaway tick), anomaly windows,
reconciliation's logged days, and the idle-timeout replay (time and peak resident memory).

Fills a throw-away embedded PostgreSQL with N synthetic requests over the last D days (the sensor benchmark's
generator), times each read, stops and deletes the server. Nothing outside this machine is touched.

    .venv/bin/python -m benchmarks.insights --rows 1000000 --days 14
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.sensor_tick import fill
from vast_pipelines.connect.embedded import embedded_server_url, stop_embedded_server
from vast_pipelines.defs.cost_freshness import cost_freshness
from vast_pipelines.defs.insights.anomalies import judge_models
from vast_pipelines.domain.thresholds import GUIDE
from vast_pipelines.policy.idle_timeout import grid
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine

DATABASE = "bench_insights"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and max milliseconds of ``repeat`` calls after one warm-up."""
    fn()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(timings), max(timings)


def replay_all(database: AnalyticsDatabase, start: datetime, end: datetime, days: int) -> int:
    """The what-if asset's work: stream every model's trace and replay the grid."""
    requests = 0
    for trace in database.costs.request_traces(start, end):
        requests += len(trace.starts)
        grid(trace.starts, trace.durations, window_seconds=days * 86400.0)
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="vast-bench-insights-"))
    try:
        url = embedded_server_url(home, database=DATABASE)
        now = datetime.now(UTC)
        started = time.perf_counter()
        fill(url, args.rows, args.days, now)
        print(f"filled {args.rows:,} requests over {args.days} days in {time.perf_counter() - started:.1f} s")
        database = AnalyticsDatabase(url=url)
        utc = ZoneInfo("UTC")
        today = now.date()
        for name, fn in (
            ("freshness (per budget/runaway tick)", lambda: cost_freshness(database, now, GUIDE)),
            ("anomaly windows (today + this hour, 4 weeks)", lambda: judge_models(database, now, utc, GUIDE)),
            (
                "reconciliation: logged per UTC day, 14 days",
                lambda: database.costs.logged_by_utc_day(today - timedelta(14), today),
            ),
        ):
            median, worst = timed(fn, args.repeat)
            print(f"{name}: median {median:.1f} ms, max {worst:.1f} ms ({args.repeat} runs)")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        requests = replay_all(database, now - timedelta(days=args.days), now, args.days)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"idle-timeout what-if over {requests:,} requests ({args.days} days, 9 settings): "
            f"{seconds:.1f} s, peak RSS {before:.0f} MB before, {after:.0f} MB after"
        )
        dispose_engine(url)
    finally:
        stop_embedded_server(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
