"""``daily_cost_history``: the daily rollup of ``vast_ai_costs`` that every cost report reads."""

import logging
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.costs.checks import band_check
from vast_pipelines.defs.costs.partitions import CostPartitions
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.policy.costs import daily_costs, days_between, model_costs
from vast_pipelines.policy.periods import local_midnight
from vast_pipelines.policy.spend import DailyVerdict, daily_verdict
from vast_pipelines.policy.thresholds import Thresholds
from vast_pipelines.reports.costs import history_day_report
from vast_pipelines.reports.figures import guide_figures
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.resources.cost_history import CostHistory, read_history, refresh_day
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings

GROUP = "costs"
_LOG = logging.getLogger(__name__)
DAILY_COST_BAND_CHECK = "daily_cost_band"


def roll_up(database: AnalyticsDatabase, day: date, zone: str, run_id: str | None) -> int:
    """Replace the rollup of local ``day`` in ``zone``; returns its request count."""
    tz = ZoneInfo(zone)
    return refresh_day(
        database,
        day=day,
        window_start=local_midnight(day, tz),
        window_end=local_midnight(day + timedelta(days=1), tz),
        timezone=zone,
        run_id=run_id,
    )


def load_history(
    database: AnalyticsDatabase,
    first: date,
    end: date,
    partitions: CostPartitions,
    run_id: str | None = None,
    log: logging.Logger | dg.DagsterLogManager | None = None,
) -> tuple[CostHistory, list[date]]:
    """The history of ``[first, end)``, after rolling up any ended day missing from it.

    A report never silently skips a day that was not rolled up (a failed morning run, a fresh install):
    it rolls that day up first. Returns the history and the days rolled up now.
    """
    first = max(first, date.fromisoformat(partitions.start))
    history = read_history(database, first, end)
    today = clock.now().astimezone(ZoneInfo(partitions.timezone)).date()
    missing = [d for d in days_between(first, end) if d not in history.days and d < today]
    for day in missing:
        requests = roll_up(database, day, partitions.timezone, run_id)
        (log or _LOG).info(f"daily_cost_history {day}: rolled up now ({requests:,} requests), it was missing")
    if missing:
        history = read_history(database, first, end)
    return history, missing


def other_zone_days(history: CostHistory, zone: str) -> list[date]:
    """Days rolled up in another time zone than the current one (their boundaries differ)."""
    return sorted(d for d, info in history.days.items() if info.timezone != zone)


def day_metadata(
    history: CostHistory, day: date, zone: str, limits: Thresholds
) -> tuple[dict[str, object], DailyVerdict, dict[str, float]]:
    """One day's materialization metadata (the SPEC's numeric keys), its verdict, and its money figures.

    A day without a cost has no ``daily_cost`` or ``cost_per_request`` at all: no data is not $0.00.
    """
    end = day + timedelta(days=1)
    [one] = daily_costs(history.rows, history.days, day, end)
    totals = one.totals
    models = model_costs(history.rows, day, end)
    verdict = daily_verdict(float(totals.cost) if totals.cost is not None else None, totals.requests, limits)
    money = (
        {"daily_cost": float(totals.cost or 0), "cost_per_request": float(totals.cost_per_request or 0)}
        if totals.has_cost
        else {}
    )
    text = history_day_report(day, totals, models, zone, limits)
    metadata = {
        **guide_figures(money),
        "requests": totals.requests,
        "cold_start_requests": totals.cold_start_requests,
        "null_cost_requests": totals.null_cost_requests,
        "invalid_cost_requests": totals.invalid_cost_requests,
        "negative_cost_requests": totals.negative_cost_requests,
        "null_duration_requests": totals.null_duration_requests,
        "models": len(models),
        "daily_verdict": verdict.value,
        "timezone": zone,
        "report": dg.MetadataValue.md(as_markdown(text)),
    }
    return metadata, verdict, money


def record_rolled_up_days(
    context: dg.AssetExecutionContext, history: CostHistory, days: list[date], zone: str, limits: Thresholds
) -> None:
    """Record days a report rolled up itself as materializations of their ``daily_cost_history``
    partitions, so the UI's history shows them as it would after a backfill."""
    for day in days:
        metadata, _, _ = day_metadata(history, day, zone, limits)
        context.log_event(
            dg.AssetMaterialization(
                asset_key="daily_cost_history",
                partition=str(day),
                description=f"Rolled up by {context.asset_key.to_user_string()} (the day was missing)",
                metadata=metadata,
            )
        )


def build_daily_cost_history(partitions: CostPartitions) -> dg.AssetsDefinition:
    """The ``daily_cost_history`` asset on ``partitions.daily``."""

    @dg.asset(
        name="daily_cost_history",
        group_name=GROUP,
        kinds={"sql", "postgres"},
        deps=[vast_ai_costs],
        partitions_def=partitions.daily,
        check_specs=[
            dg.AssetCheckSpec(
                DAILY_COST_BAND_CHECK,
                asset="daily_cost_history",
                description="The day's spend in the guide's bands: warn at moderate ($5-10), fail at high ($10+).",
            )
        ],
    )
    def daily_cost_history(
        context: dg.AssetExecutionContext, database: AnalyticsDatabase, settings: RunbookSettings
    ) -> dg.MaterializeResult:
        """The materialized cost history: each local day of `vast_ai_costs` rolled up per model (requests,
        cost, cold starts, durations; requests without a cost or duration counted apart) into
        `vast_pipelines.daily_cost_history`. Re-materializing a day replaces it (late rows); backfill
        from the UI to build the history. Every weekly and monthly report reads this, not the raw table."""
        limits = settings.limits()
        day = date.fromisoformat(context.partition_key)
        requests = roll_up(database, day, partitions.timezone, context.run.run_id)
        history = read_history(database, day, day + timedelta(days=1))
        metadata, verdict, money = day_metadata(history, day, partitions.timezone, limits)
        context.log.info(f"daily_cost_history {day}: {requests:,} requests rolled up")
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                band_check(DAILY_COST_BAND_CHECK, verdict.value, good="excellent", bad="high", metadata=money)
            ],
        )

    return daily_cost_history
