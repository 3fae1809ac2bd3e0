"""The budget and runaway sensors ticking 1,000 times each against a month of a busy platform.

Fills ``vast_ai_costs`` with N requests a day for 31 days by COPY (default N = 1,000,000: 31 million rows),
rolls up the complete days as the morning schedule does, pins the pipelines' clock to noon on the last day,
then evaluates ``budget_alert_sensor`` and ``runaway_cost_sensor`` one after the other, each tick with the
previous tick's cursor, on a real Dagster instance. Prints p50/p95/max tick times and what the ticks did:
how many alerts were queued and how many emergency runs were requested (expected: exactly one of each).

    .venv/bin/python -m benchmarks.sensor_load                      # 31M rows, 1,000 ticks per sensor
    .venv/bin/python -m benchmarks.sensor_load --rows-per-day 100000 --ticks 200

The worst hour (issue 14): ``--at 23:59`` pins the clock a minute before midnight, a whole day already logged
today, and ``--generate --days D`` fills D days inside PostgreSQL (generate_series) instead of COPYing January,
cheap enough for 10M requests a day. For each N it then also times, on the same database and at the same
moment, the plain index-range query over today's rows (``SUM(cost), COUNT(*)``: the floor any today's-spend
figure read from raw rows pays) and the tick's statement with nothing pre-summed (every row of today raw, as
before spend_minutes), prints each tick's p95 as a ratio against the plain query, the first tick (which sums
the day into spend_minutes once), and the peak resident memory of the ticking process. Several N print a
flatness table:

    .venv/bin/python -m benchmarks.sensor_load --generate --days 2 --at 23:59 --ticks 100 \
        --rows-per-day 10000,100000,1000000,10000000
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from benchmarks.cost_reports import (
    DAYS,
    MONTH,
    ZONE,
    _reset_peak_rss,
    _status_mb,
    create_database,
    drop_database,
    embedded_server,
    generate,
    load,
    server_settings,
)
from vast_pipelines import clock
from vast_pipelines.definitions import defs
from vast_pipelines.defs.costs.history import roll_up
from vast_pipelines.domain.periods import local_midnight, periods_at
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.heartbeat import HeartbeatResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store import spend_minutes
from vast_pipelines.store.cost_table import CHARGED
from vast_pipelines.store.minute_plan import SETTLE, floor_minute
from vast_pipelines.store.spend import SUMMARY as SPEND_SUMMARY
from vast_pipelines.store.spend import spend_parameters
from vast_pipelines_tests.guide_queries import guide_query_between

SENSORS = ("budget_alert_sensor", "runaway_cost_sensor")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


NOOP = "no-op tick (same resources)"


@dg.sensor(name="noop_sensor", minimum_interval_seconds=60)
def noop_sensor(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.SkipReason:
    """Dagster's floor for a tick: the budget sensor's resources built, nothing read."""
    return dg.SkipReason("nothing read")


PLAIN_TODAY = 'SELECT SUM(cost), COUNT(*) FROM vast_ai_costs WHERE "timestamp" >= :start AND "timestamp" <= :now'


def timed(fn, times: int) -> list[float]:
    """Milliseconds of ``times`` calls of ``fn``."""
    out = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def bench(admin_url: str, rows_per_day: int, args: argparse.Namespace) -> dict[str, float]:
    """Load, roll up, tick; print this N's figures and return the ones the flatness table needs."""
    days = args.days if args.generate else DAYS
    last_day = MONTH + timedelta(days=DAYS - 1)
    url = create_database(admin_url, f"sensor_load_{rows_per_day}_{days}")
    if args.generate:
        copied, indexed = generate(url, rows_per_day, days, last_day)
    else:
        copied, indexed = load(url, rows_per_day)
    print(
        f"\n== N = {rows_per_day:,} requests/day: {rows_per_day * days:,} rows ({days} days up to {last_day}) "
        f"loaded in {copied:.0f}s + {indexed:.0f}s"
    )

    database = AnalyticsDatabase(url=url)
    zone = RunbookSettings(timezone=ZONE).tz()
    started = time.perf_counter()
    # Every complete day of the month (those without rows too), as daily_cost_history_schedule keeps them.
    for offset in range(DAYS - 1):
        day = MONTH + timedelta(days=offset)
        database.cost_history.refresh_day(
            day=day,
            window_start=local_midnight(day, zone),
            window_end=local_midnight(day + timedelta(days=1), zone),
            timezone=ZONE,
            run_id=None,
        )
    print(f"rolled up {DAYS - 1} complete days in {time.perf_counter() - started:.0f}s")

    # One complete day's rollup (as the morning schedule runs it) against the guide's one-day query, and its memory.
    rolled_day = last_day - timedelta(days=1)
    window = {"start": local_midnight(rolled_day, zone), "end": local_midnight(last_day, zone)}

    def guide_day() -> None:
        with database.begin() as conn:
            conn.execute(sa.text(guide_query_between("current_month")), window).all()

    guide_day_ms = statistics.median(timed(guide_day, 3))
    reset = _reset_peak_rss()
    rollup_ms = statistics.median(timed(lambda: roll_up(database, rolled_day, ZONE, "benchmark"), 3))
    rollup_rss = _status_mb("VmHWM") if reset else float("nan")
    print(
        f"one day's rollup ({rolled_day}): {rollup_ms:,.0f} ms, the guide's one-day query {guide_day_ms:,.0f} ms "
        f"({guide_day_ms / rollup_ms:.2f}x); peak RSS {rollup_rss:,.0f} MB"
    )

    hour, minute = (int(part) for part in args.at.split(":"))
    moment = datetime.combine(last_day, datetime.min.time(), UTC) + timedelta(hours=hour, minutes=minute)
    clock.now = lambda: moment  # the sensors tick at that moment of the last day, whatever today is
    periods = periods_at(moment, zone)
    resources = {
        "database": database,
        "slack": SlackResource(),  # no token: alerts wait in the outbox, counted there
        "email": EmailResource(),
        "settings": RunbookSettings(timezone=ZONE),
        "heartbeat": HeartbeatResource(),  # no HEARTBEAT_URL: no ping
    }

    def plain() -> None:
        with database.begin() as conn:
            conn.execute(sa.text(PLAIN_TODAY), {"start": periods.today_start, "now": moment}).one()

    def unsummed() -> None:  # the tick's statement reading every row of today raw (before spend_minutes)
        with database.begin() as conn:
            params = {**spend_parameters(periods), "with_rolling": False}
            conn.execute(sa.text(SPEND_SUMMARY), params).one()

    plain()  # warm the pool and the cache, as a running sensor has
    rss_before = _status_mb("VmRSS")
    reset = _reset_peak_rss()
    # The first ticks sum today into spend_minutes, a few hours each, until they reach the last settled minute.
    first_started, catch_up = time.perf_counter(), 0
    settled = floor_minute(moment - SETTLE)
    while True:
        database.spend.summary(periods, rolling_24h=False)
        catch_up += 1
        with database.begin() as conn:
            if spend_minutes.coverage(conn).summed_through >= settled:
                break
    first_ms = (time.perf_counter() - first_started) * 1000
    location = defs()
    times: dict[str, list[float]] = {name: [] for name in SENSORS}
    cursors: dict[str, str | None] = {name: None for name in SENSORS}
    run_keys: list[str] = []
    with dg.instance_for_test() as instance:
        sensors = {name: location.resolve_sensor_def(name) for name in SENSORS}
        sensors[NOOP] = noop_sensor
        times[NOOP], cursors[NOOP] = [], None
        for _ in range(args.ticks):
            for name, sensor in sensors.items():
                context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursors[name])
                tick_started = time.perf_counter()
                result = sensor.evaluate_tick(context)
                times[name].append((time.perf_counter() - tick_started) * 1000)
                cursors[name] = result.cursor
                run_keys += [r.run_key for r in result.run_requests or []]
    tick_rss = _status_mb("VmHWM") if reset else float("nan")
    plain_ms = timed(plain, args.ticks)
    recheck_ms = timed(lambda: database.spend.summary(periods), max(args.ticks // 5, 5))
    raw_ms = timed(unsummed, max(args.ticks // 20, 3))
    with database.begin() as conn:
        alerts = conn.execute(
            sa.text(
                "SELECT kind, transport, count(*) FROM vast_pipelines.notification_outbox "
                "GROUP BY kind, transport ORDER BY kind, transport"
            )
        ).all()
        today = conn.execute(
            sa.text(
                f"SELECT SUM(cost) FILTER (WHERE {CHARGED}), COUNT(*) FROM vast_ai_costs "
                'WHERE "timestamp" >= :start AND "timestamp" <= :now'
            ),
            {"start": periods.today_start, "now": moment},
        ).one()
        minutes = conn.execute(sa.text("SELECT count(*) FROM vast_pipelines.spend_minutes")).scalar_one()
    dispose_engine(url)
    if not args.keep:
        drop_database(admin_url, f"sensor_load_{rows_per_day}_{days}")

    floor = percentile(plain_ms, 0.95)
    print(
        f"at {moment:%Y-%m-%d %H:%M} UTC: today ${float(today[0] or 0):,.2f} over {today[1]:,} requests "
        f"(summed into {minutes:,} minute rows); ticks per sensor: {args.ticks}"
    )
    print(f"{'':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p95 / plain':>12}")
    lines = [("plain today's-spend query", plain_ms)]
    lines += [(name, values) for name, values in times.items() if name != NOOP] + [(NOOP, times[NOOP])]
    lines += [("re-check (spend_summary, 24 h too)", recheck_ms), ("tick statement, nothing pre-summed", raw_ms)]
    for name, values in lines:
        p95 = percentile(values, 0.95)
        print(f"{name:<34} {statistics.median(values):>8.1f} {p95:>8.1f} {max(values):>8.1f} {p95 / floor:>11.2f}x")
    floor_tick = percentile(times[NOOP], 0.95)
    for name in SENSORS:
        print(f"{name}: p95 less the no-op tick's p95: {percentile(times[name], 0.95) - floor_tick:.1f} ms")
    print(
        f"catching up (summing today into spend_minutes once): {catch_up} ticks' refreshes, {first_ms:,.0f} ms in all"
    )
    print(f"peak RSS while ticking: {tick_rss:,.0f} MB (before the first tick: {rss_before:,.0f} MB)")
    print(f"emergency runs requested: {len(run_keys)} (run keys: {', '.join(sorted(set(run_keys))) or 'none'})")
    print("messages queued: " + (", ".join(f"{kind} by {transport} x{n}" for kind, transport, n in alerts) or "none"))
    return {
        "plain": floor,
        **{name: percentile(values, 0.95) for name, values in times.items()},
        "raw": percentile(raw_ms, 0.95),
        "noop": percentile(times[NOOP], 0.95),
        "rss": tick_rss,
        "rollup": rollup_ms,
        "guide_day": guide_day_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-per-day", default="1000000", help="comma-separated N (default 1000000)")
    parser.add_argument("--ticks", type=int, default=1000, help="evaluations of each sensor (default 1000)")
    parser.add_argument("--database-url", help="a PostgreSQL server where the user may create databases")
    parser.add_argument("--at", default="12:00", help="UTC time of day on the last day the sensors tick at")
    parser.add_argument("--generate", action="store_true", help="generate rows in PostgreSQL (with --days)")
    parser.add_argument("--days", type=int, default=DAYS, help="days of rows with --generate (default 31)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args(argv)
    sizes = [int(part.replace("_", "")) for part in args.rows_per_day.split(",") if part.strip()]

    with contextlib.ExitStack() as stack:
        admin_url = args.database_url or stack.enter_context(embedded_server())
        print(f"vast_pipelines sensor load: {server_settings(admin_url)}")
        results = {n: bench(admin_url, n, args) for n in sizes}
    if len(results) > 1:
        smallest = next(iter(results.values()))
        print("\nflatness (p95 ms; in brackets: against the smallest N):")
        print(
            f"{'N requests/day':>16} {'plain query':>12} {'budget tick':>16} {'runaway tick':>16} {'no-op tick':>11} "
            f"{'unsummed':>10} {'rollup':>9} {'guide day':>10} {'tick RSS MB':>12}"
        )
        for n, r in results.items():
            cells = [
                f"{r[k]:8.1f} ({r[k] / smallest[k]:4.1f}x)" for k in ("budget_alert_sensor", "runaway_cost_sensor")
            ]
            print(
                f"{n:>16,} {r['plain']:>12.1f} {cells[0]:>16} {cells[1]:>16} {r['noop']:>11.1f} {r['raw']:>10.1f} "
                f"{r['rollup']:>9.1f} {r['guide_day']:>10.1f} {r['rss']:>12.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
