"""``vast-pipelines-demo``: the morning health check and the last weekly review on the embedded demo database.

Fills the embedded PostgreSQL with labelled synthetic traffic, then runs the real jobs in process on the
persistent local Dagster instance (``vast_pipelines.instance``, the one ``scripts/ui`` shows), so the UI
holds the demo's runs, materializations, checks and cost history afterwards. It prints what an operator
would read. Every endpoint the user has not configured points at a loopback port where nothing listens,
so nothing outside this machine is called (OFFLINE is the honest result).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import warnings
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.config import build_resources, unset_variables
from vast_pipelines.connect.embedded import stop_embedded_server
from vast_pipelines.defs.alerts.budget import BUDGET_STATUS_TAG
from vast_pipelines.defs.costs.partitions import complete_partitions_since, last_complete_partition
from vast_pipelines.demo_traffic import (
    DEMO_NOTE,
    PAST_RUNAWAY_USD,
    TODAY_RUNAWAY_HOURS,
    TODAY_RUNAWAY_USD,
    demo_rows,
    last_complete_week_wednesday,
)
from vast_pipelines.errors import OperatorError
from vast_pipelines.instance import prepare_instance
from vast_pipelines.resources.database import AnalyticsDatabase

# The report is printed once at the end; Dagster's step-by-step log only when something goes wrong.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def closed_loopback_url() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def fill_demo_traffic(database: AnalyticsDatabase, now: datetime, tz: ZoneInfo, days: int, seed: int) -> int:
    """Replace the embedded ``vast_ai_costs`` with synthetic traffic up to ``now``; returns the row count."""
    if not database.is_embedded:
        raise OperatorError("The demo writes synthetic traffic into the embedded database only; unset TIMESCALE_URL.")
    rows = list(demo_rows(now, tz, days=days, seed=seed))
    database.demo.replace_traffic(rows, seed=seed, note=DEMO_NOTE)
    return len(rows)


def story(now: datetime, tz: ZoneInfo) -> str:
    """What the synthetic traffic holds, so the reader knows what the reports should find."""
    local = now.astimezone(tz)
    runaway = last_complete_week_wednesday(local.date())
    return (
        "  The story: ordinary days of $1-4; a stuck llama-3-70b worker burned over "
        f"${PAST_RUNAWAY_USD:.0f} on {runaway:%a %d %b} (the last complete week); another has been burning "
        f"${TODAY_RUNAWAY_USD:.0f} over the last {TODAY_RUNAWAY_HOURS} hours today (or since midnight), so today "
        "is a runaway and month-to-date is past the first budget level."
    )


def demo_resources() -> dict[str, dg.ConfigurableResource]:
    """The code location's resources, with unconfigured outside systems pointed at a dead loopback port."""
    dead = closed_loopback_url()
    overrides: dict[str, dict[str, object]] = {}
    for key, fields in (
        ("endpoints", ("vllm_url", "ollama_url")),
        ("vast", ("api_url", "autoscaler_url")),
        ("slack", ("api_url",)),
    ):
        overrides[key] = {field: dead for field in unset_variables(key) if field in fields}
    # The guide waits 30 s before the cold-start retry; the demo's dead port will not wake up.
    overrides["endpoints"]["cold_start_wait_seconds"] = 1.0
    return build_resources(overrides, resolved=True)


def run_demo(days: int = 75, seed: int = 7, out=sys.stdout) -> int:
    """Fill the demo database, run the health check and the last weekly review, print both; returns an exit code."""
    if os.environ.get("TIMESCALE_URL"):
        print(
            "The demo writes synthetic traffic and runs only on the embedded demo database; TIMESCALE_URL is set, "
            "so nothing was written. Unset TIMESCALE_URL to run the demo, or run the jobs with `dagster dev`.",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    resources = demo_resources()
    database: AnalyticsDatabase = resources["database"]
    print(f"Starting the {database.label} ...", file=out)
    now, tz = clock.now(), resources["settings"].tz()
    count = fill_demo_traffic(database, now, tz, days, seed)
    print(
        f"Wrote {count:,} rows of synthetic demo traffic ({days} days, labelled in vast_pipelines.demo_traffic).",
        story(now, tz),
        sep="\n",
        file=out,
    )

    with dg.DagsterInstance.from_config(str(prepare_instance(Path(database.home)))) as instance:
        code = _run_jobs(instance, resources, database, out)
        if code:
            return code
        print(sensor_ticks(resources, instance), "", sep="\n", file=out)
    print(
        f"Demo finished in {time.perf_counter() - started:.1f}s. The embedded database keeps running; its runs, "
        "materializations and cost history are in the UI: scripts/ui (http://127.0.0.1:3000; "
        "scripts/ui --background, then scripts/ui --stop stops the UI and the database).",
        file=out,
    )
    return 0


def _run_jobs(instance: dg.DagsterInstance, resources: dict, database: AnalyticsDatabase, out) -> int:
    """The morning health check, the past months' and the last week's reviews; prints the health check and the
    weekly review. Returns an exit code."""
    from vast_pipelines.definitions import defs

    job = defs().resolve_job_def("daily_health_check")
    result = job.execute_in_process(instance=instance, resources=resources, raise_on_error=False, run_config=QUIET)
    if not result.success:
        for event in result.all_events:
            if event.is_failure and event.event_specific_data is not None:
                error = getattr(event.event_specific_data, "error", None)
                print(f"FAILED {event.step_key}: {error.message if error else event.message}", file=sys.stderr)
        return 1
    print("", database.health.report(result.run_id), "", sep="\n", file=out)

    # The months the traffic covers: each review rolls up its missing days and records them as materializations
    # of daily_cost_history, so the UI's cost history is not "Missing" for the demo's days.
    monthly = defs().resolve_job_def("monthly_cost_report_job")
    for month in complete_partitions_since(monthly.partitions_def, database_first_day(database)):
        result = monthly.execute_in_process(
            instance=instance,
            resources=resources,
            partition_key=month,
            raise_on_error=False,
            run_config={**QUIET, "ops": {"monthly_cost_report": {"config": {"post_to_slack": False}}}},
        )
        if not result.success:
            print(f"FAILED monthly_cost_report {month}: see the run in the UI (scripts/ui)", file=sys.stderr)
            return 1

    weekly = defs().resolve_job_def("weekly_cost_report_job")
    week = last_complete_partition(weekly.partitions_def)
    result = weekly.execute_in_process(
        instance=instance,
        resources=resources,
        partition_key=week,
        raise_on_error=False,
        # The review of synthetic traffic is printed here, never posted.
        run_config={**QUIET, "ops": {"weekly_cost_report": {"config": {"post_to_slack": False}}}},
    )
    if not result.success:
        print(f"FAILED weekly_cost_report {week}: see the run in the UI (scripts/ui)", file=sys.stderr)
        return 1
    review = database.cost_reports.text("weekly_cost_report", date.fromisoformat(week))
    print(review, "", sep="\n", file=out)
    return 0


def database_first_day(database: AnalyticsDatabase) -> datetime | None:
    """The first synthetic request, as the demo recorded it."""
    return database.demo.first_request()


DEMO_SENSORS = ("budget_alert_sensor", "runaway_cost_sensor")


def sensor_ticks(resources: dict[str, dg.ConfigurableResource], instance: dg.DagsterInstance) -> str:
    """One tick of each spend sensor, as the daemon would run it, and what it left in the outbox."""
    from vast_pipelines.definitions import defs

    location = defs()
    lines = ["=== Sensors: one tick each, as the daemon runs them every minute ==="]
    for name in DEMO_SENSORS:
        tick = location.resolve_sensor_def(name).evaluate_tick(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        runs = [
            f"would start {r.job_name or 'emergency_shutdown'} ({r.run_key})"
            + (f": {r.tags[BUDGET_STATUS_TAG]}" if BUDGET_STATUS_TAG in r.tags else "")
            for r in tick.run_requests or []
        ]
        lines.append(f"{name}: {'; '.join(runs) or tick.skip_message or 'nothing to do'}")
    database: AnalyticsDatabase = resources["database"]
    lines += [f"  outbox: {kind} to {to}: {status}" for kind, to, status in database.outbox.not_delivered("budget")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=75, help="days of synthetic traffic (default 75)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stop", action="store_true", help="stop the embedded PostgreSQL and exit")
    args = parser.parse_args(argv)
    # What an operator reads, without the library's beta notices.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    if args.stop:
        home = Path(os.environ.get("VAST_PIPELINES_HOME") or ".vast_pipelines")
        print(
            "stopped the embedded database" if stop_embedded_server(home) else "the embedded database was not running"
        )
        sys.exit(0)
    try:
        sys.exit(run_demo(days=args.days, seed=args.seed))
    except OperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
