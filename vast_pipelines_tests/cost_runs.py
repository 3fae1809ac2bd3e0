"""Helpers for the cost tests: run the code location's cost jobs, and the guide's own SQL, on one database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from vast_pipelines.definitions import defs
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines_tests.guide_queries import guide_query_at, guide_query_between


def local(day: str, at: str = "00:00:00", zone: str = "UTC") -> datetime:
    """An aware datetime at local ``day`` ``at`` in ``zone``."""
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(at), tzinfo=ZoneInfo(zone))


def run_partition(
    job_name: str, partition_key: str, resources: dict, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """One partition of one of the code location's jobs, on a real (temporary) Dagster instance."""
    job = defs().resolve_job_def(job_name)
    with dg.instance_for_test() as instance:
        return job.execute_in_process(
            instance=instance, resources=resources, partition_key=partition_key, run_config=run_config
        )


def post(asset: str, value: bool) -> dict:
    """Run config setting ``post_to_slack`` of a review asset."""
    return {"ops": {asset: {"config": {"post_to_slack": value}}}}


def guide_between(database: AnalyticsDatabase, name: str, zone: str, start: datetime, end: datetime) -> list:
    """The guide's query ``name`` in a session of time zone ``zone``, its window pinned to ``[start, end)``."""
    with database.begin() as conn:
        conn.execute(sa.text("SELECT set_config('TimeZone', :zone, true)"), {"zone": zone})
        return conn.execute(sa.text(guide_query_between(name)), {"start": start, "end": end}).all()


def guide_now(database: AnalyticsDatabase, name: str, zone: str, now: datetime) -> list:
    """The guide's query ``name`` as written, run as of ``now`` in a session of time zone ``zone``."""
    with database.begin() as conn:
        conn.execute(sa.text("SELECT set_config('TimeZone', :zone, true)"), {"zone": zone})
        today = now.astimezone(ZoneInfo(zone)).date()
        return conn.execute(sa.text(guide_query_at(name)), {"now": now, "today": today}).all()


def days(first: str, count: int) -> list[str]:
    """``count`` partition keys from ``first``."""
    start = date.fromisoformat(first)
    return [str(start + timedelta(days=i)) for i in range(count)]
