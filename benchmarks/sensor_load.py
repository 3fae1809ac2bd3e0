"""The budget and runaway sensors ticking 1,000 times each against a month of a busy platform.

Fills ``vast_ai_costs`` with N requests a day for 31 days by COPY (default N = 1,000,000: 31 million rows),
rolls up the complete days as the morning schedule does, pins the pipelines' clock to noon on the last day,
then evaluates ``budget_alert_sensor`` and ``runaway_cost_sensor`` one after the other, each tick with the
previous tick's cursor, on a real Dagster instance. Prints p50/p95/max tick times and what the ticks did:
how many alerts were queued and how many emergency runs were requested (expected: exactly one of each).

    .venv/bin/python -m benchmarks.sensor_load                      # 31M rows, 1,000 ticks per sensor
    .venv/bin/python -m benchmarks.sensor_load --rows-per-day 100000 --ticks 200
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from benchmarks.cost_reports import DAYS, MONTH, ZONE, create_database, embedded_server, load, server_settings
from vast_pipelines import clock
from vast_pipelines.definitions import defs
from vast_pipelines.policy.periods import local_midnight
from vast_pipelines.resources.cost_history import refresh_day
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.heartbeat import HeartbeatResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource

SENSORS = ("budget_alert_sensor", "runaway_cost_sensor")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=1000, help="evaluations of each sensor (default 1000)")
    parser.add_argument("--database-url", help="a PostgreSQL server where the user may create databases")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        admin_url = args.database_url or stack.enter_context(embedded_server())
        print(f"vast_pipelines sensor load: {server_settings(admin_url)}")
        url = create_database(admin_url, f"sensor_load_{args.rows_per_day}")
        copied, indexed = load(url, args.rows_per_day)
        print(
            f"loaded {args.rows_per_day * DAYS:,} rows ({DAYS} days of {MONTH:%B %Y}) in {copied:.0f}s + {indexed:.0f}s"
        )

        database = AnalyticsDatabase(url=url)
        zone = RunbookSettings(timezone=ZONE).tz()
        last_day = MONTH + timedelta(days=DAYS - 1)
        started = time.perf_counter()
        for offset in range(DAYS - 1):  # every complete day, as daily_cost_history_schedule keeps them
            day = MONTH + timedelta(days=offset)
            refresh_day(
                database,
                day=day,
                window_start=local_midnight(day, zone),
                window_end=local_midnight(day + timedelta(days=1), zone),
                timezone=ZONE,
                run_id=None,
            )
        print(f"rolled up {DAYS - 1} complete days in {time.perf_counter() - started:.0f}s")

        noon = datetime.combine(last_day, datetime.min.time(), UTC) + timedelta(hours=12)
        clock.now = lambda: noon  # the sensors tick "at noon on the last day", whatever today is
        resources = {
            "database": database,
            "slack": SlackResource(),  # no token: alerts wait in the outbox, counted there
            "email": EmailResource(),
            "settings": RunbookSettings(timezone=ZONE),
            "heartbeat": HeartbeatResource(),  # no HEARTBEAT_URL: no ping
        }
        location = defs()
        times: dict[str, list[float]] = {name: [] for name in SENSORS}
        cursors: dict[str, str | None] = {name: None for name in SENSORS}
        run_keys: list[str] = []
        with dg.instance_for_test() as instance:
            sensors = {name: location.resolve_sensor_def(name) for name in SENSORS}
            for _ in range(args.ticks):
                for name, sensor in sensors.items():
                    context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursors[name])
                    tick_started = time.perf_counter()
                    result = sensor.evaluate_tick(context)
                    times[name].append((time.perf_counter() - tick_started) * 1000)
                    cursors[name] = result.cursor
                    run_keys += [
                        f"{r.job_name or sensor.job_name}:{r.run_key}" for r in result.run_requests or []
                    ]
        with database.begin() as conn:
            alerts = conn.execute(
                sa.text(
                    "SELECT kind, transport, count(*) FROM vast_pipelines.notification_outbox "
                    "GROUP BY kind, transport ORDER BY kind, transport"
                )
            ).all()
            month_to_date = conn.execute(
                sa.text('SELECT sum(cost) FROM vast_ai_costs WHERE "timestamp" >= :a AND "timestamp" <= :b'),
                {"a": local_midnight(MONTH, zone), "b": noon},
            ).scalar_one()
        dispose_engine(url)

    print(f"\nmonth-to-date at noon on {last_day}: ${float(month_to_date):,.2f}; ticks per sensor: {args.ticks}")
    print(f"{'sensor':<24} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, values in times.items():
        print(f"{name:<24} {statistics.median(values):>8.1f} {percentile(values, 0.95):>8.1f} {max(values):>8.1f}")
    emergency = [k.split(":", 1)[1] for k in run_keys if k.startswith("emergency_shutdown:")]
    delivery = [k.split(":", 1)[1] for k in run_keys if not k.startswith("emergency_shutdown:")]
    print(f"emergency runs requested: {len(emergency)} (run keys: {', '.join(sorted(set(emergency))) or 'none'})")
    print(f"alert delivery runs requested: {len(delivery)} (run keys: {', '.join(sorted(set(delivery))) or 'none'})")
    print("messages queued: " + (", ".join(f"{kind} by {transport} x{n}" for kind, transport, n in alerts) or "none"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
