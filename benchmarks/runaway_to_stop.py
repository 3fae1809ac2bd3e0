"""From the row that puts today over $50 to the stop call reaching Vast.ai, with the real daemon.

    .venv/bin/python -m benchmarks.runaway_to_stop --runs 3

Each run starts `dagster-daemon run` on the production instance config (deploy/dagster.postgres.yaml:
dagster-postgres storage, the queued run coordinator) with a storage database and an analytics database of
its own on one embedded PostgreSQL, and the test suite's loopback Vast.ai (127.0.0.1) holding one platform
endpoint. VAST_EMERGENCY_ACTIONS=apply, so the shutdown really calls Vast.ai (the loopback one). Once the daemon
has ticked `runaway_cost_sensor`, the script waits a random part of the sensor's minute (the row lands at a
random moment of it, as in life), commits one request that takes today's spend from $45 to $55, then polls
the fake until the stop call (PUT /api/v0/endptjobs/<id>/) arrives. Prints, per run and as p50 and worst:
the seconds from that commit to the stop call, and where they went (waiting for the tick, the run queue and
the launch of the run's process, the steps up to the stop call). It is a script, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from benchmarks.cost_reports import create_database, drop_database, embedded_server, libpq
from vast_pipelines.store.cost_table import COST_TABLE_DDL
from vast_pipelines_tests.conftest import REPO, VAST_KEY, dagster_process, loopback_environment
from vast_pipelines_tests.fakes import VastServer

INSTANCE = REPO / "deploy" / "dagster.postgres.yaml"
ROUTER_ENV = "USE_VASTAI=true\nLOG_LEVEL=info\n"


def _ticks(storage: str, sensor: str) -> int:
    with psycopg.connect(storage) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        if "job_ticks" not in tables:
            return 0
        return conn.execute(
            "SELECT count(*) FROM job_ticks WHERE tick_body::jsonb ->> 'job_name' = %s", (sensor,)
        ).fetchone()[0]


def _run_times(storage: str) -> tuple[float | None, float | None]:
    """When the emergency run was created (the tick asked for it) and started (its process began), epoch s."""
    with psycopg.connect(storage) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM create_timestamp AT TIME ZONE 'UTC'), start_time FROM runs "
            "WHERE pipeline_name = 'emergency_shutdown' ORDER BY create_timestamp LIMIT 1"
        ).fetchone()
    return (float(row[0]), row[1]) if row else (None, None)


def _run_failed(storage: str) -> bool:
    with psycopg.connect(storage) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        if "runs" not in tables:
            return False
        return bool(conn.execute("SELECT count(*) FROM runs WHERE status = 'FAILURE'").fetchone()[0])


def _stop_leftovers(marker: str) -> None:
    """Stop the code server the daemon started (it runs in a session of its own and outlives the daemon): the
    processes whose command line names this run's temporary folder, by process id."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in command:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGTERM)


def one_run(admin_url: str, number: int, rows_today: int, rng: random.Random) -> dict[str, float]:
    analytics = create_database(admin_url, f"runaway_analytics_{number}")
    storage_url = create_database(admin_url, f"runaway_dagster_{number}")
    storage = libpq(storage_url)
    now = datetime.now(UTC)
    today = datetime.combine(now.date(), datetime.min.time(), UTC)
    with psycopg.connect(libpq(analytics), autocommit=True) as conn:
        for statement in COST_TABLE_DDL:
            conn.execute(statement)
        # Today's traffic so far: rows_today requests worth $45 in all, up to a minute ago.
        span = max((now - timedelta(minutes=1) - today).total_seconds(), 1.0)
        conn.execute(
            'INSERT INTO vast_ai_costs ("timestamp", model, cost, duration, cold_start) '
            "SELECT %s + (i * %s / %s) * interval '1 second', 'llama-3-70b', 45.0 / %s, 1.5, false "
            "FROM generate_series(1, %s) AS i",
            (today, span, rows_today, rows_today, rows_today),
        )
        conn.execute("ANALYZE vast_ai_costs")
    with tempfile.TemporaryDirectory(prefix="vast-runaway-") as folder, VastServer(api_key=VAST_KEY) as vast:
        home = Path(folder)
        (home / "dagster_home").mkdir()
        shutil.copy(INSTANCE, home / "dagster_home" / "dagster.yaml")
        router_env = home / "agent-router.env"
        router_env.write_text(ROUTER_ENV)
        endpoint = vast.add_endpoint("llama-3-70b", workers=[{"id": 9, "status": "running"}])
        env = {
            "DAGSTER_HOME": str(home / "dagster_home"),
            "DAGSTER_POSTGRES_URL": storage.replace("postgresql://", "postgresql+psycopg2://"),
            "TIMESCALE_URL": libpq(analytics),
            **loopback_environment(vast=vast),
            "VAST_ENDPOINTS": "llama-3-70b",
            "VAST_EMERGENCY_ACTIONS": "apply",
            "AGENT_ROUTER_ENV_FILE": str(router_env),
            "AGENT_ROUTER_RESTART_COMMAND": "true",
        }
        command = ["dagster-daemon", "run", "-w", str(REPO / "workspace.yaml")]
        with dagster_process(command, env, home / "daemon.log") as daemon:
            deadline = time.monotonic() + 240
            while _ticks(storage, "runaway_cost_sensor") == 0:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    log = (home / "daemon.log").read_text()[-3000:]
                    raise SystemExit(f"the daemon never ticked runaway_cost_sensor:\n{log}")
                time.sleep(0.5)
            time.sleep(rng.uniform(0, 60))  # the row lands at a random moment of the sensor's minute
            with psycopg.connect(libpq(analytics), autocommit=True) as conn:
                conn.execute(
                    'INSERT INTO vast_ai_costs ("timestamp", model, cost, duration, cold_start) '
                    "VALUES (now(), 'llama-3-70b', 10.0, 1.5, false)"
                )
            landed = time.time()
            stop = f"/api/v0/endptjobs/{endpoint}/"
            deadline = time.monotonic() + 300
            while not any(c.method == "PUT" and c.path == stop for c in vast.calls):
                if daemon.poll() is not None or time.monotonic() > deadline or _run_failed(storage):
                    raise SystemExit("no stop call reached Vast.ai:\n" + (home / "daemon.log").read_text()[-3000:])
                time.sleep(0.02)
            stopped = time.time()
            created, started = _run_times(storage)
        _stop_leftovers(str(home))
    drop_database(admin_url, f"runaway_analytics_{number}")
    drop_database(admin_url, f"runaway_dagster_{number}")
    result = {"total": stopped - landed}
    if created and started:
        result |= {"tick": created - landed, "queue_launch": started - created, "steps": stopped - started}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows-today", type=int, default=100_000, help="requests logged today before the row")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    results = []
    with contextlib.ExitStack() as stack:
        admin_url = stack.enter_context(embedded_server())
        for number in range(args.runs):
            results.append(one_run(admin_url, number, args.rows_today, rng))
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in results[-1].items() if k != "total")
            print(f"run {number + 1}: {results[-1]['total']:.1f} s from the row to the stop call ({parts})", flush=True)
    totals = [r["total"] for r in results]
    print(
        f"\nrunaway to stop, {len(totals)} runs: p50 {statistics.median(totals):.1f} s, worst {max(totals):.1f} s "
        "(target < 90 s)"
    )
    for part in ("tick", "queue_launch", "steps"):
        values = [r[part] for r in results if part in r]
        if values:
            print(f"  {part:<13} p50 {statistics.median(values):5.1f} s, worst {max(values):5.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
