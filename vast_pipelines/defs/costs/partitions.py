"""Day, week (Monday to Sunday) and month partitions of the cost history, in the operator's time zone."""

from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from vast_pipelines import clock


@dataclass(frozen=True)
class CostPartitions:
    """The three partitionings of the cost history, one time zone and start day for all."""

    timezone: str
    start: str
    daily: dg.DailyPartitionsDefinition
    weekly: dg.WeeklyPartitionsDefinition
    monthly: dg.MonthlyPartitionsDefinition


def cost_partitions(timezone: str, start: str) -> CostPartitions:
    """Partitions from ``start`` (YYYY-MM-DD) in ``timezone``; the last one is the last complete period."""
    return CostPartitions(
        timezone=timezone,
        start=start,
        daily=dg.DailyPartitionsDefinition(start_date=start, timezone=timezone),
        # day_offset=1: weeks start on Monday (Dagster's default is Sunday).
        weekly=dg.WeeklyPartitionsDefinition(start_date=start, timezone=timezone, day_offset=1),
        monthly=dg.MonthlyPartitionsDefinition(start_date=start, timezone=timezone),
    )


def last_complete_partition(partitions_def: dg.TimeWindowPartitionsDefinition) -> str | None:
    """The last complete period's key as of ``clock.now()`` (Dagster alone would ask the wall clock)."""
    with dg.partition_loading_context(effective_dt=clock.now()):
        return partitions_def.get_last_partition_key()


def complete_partitions_since(partitions_def: dg.TimeWindowPartitionsDefinition, since: datetime | None) -> list[str]:
    """Keys of the complete periods (as of ``clock.now()``) that end after ``since``; none without ``since``."""
    if since is None:
        return []
    with dg.partition_loading_context(effective_dt=clock.now()):
        keys = partitions_def.get_partition_keys()
    return [k for k in keys if partitions_def.time_window_for_partition_key(k).end > since]
