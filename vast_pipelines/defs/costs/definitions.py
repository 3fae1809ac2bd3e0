"""The cost history's partitioned assets, jobs and schedules, built when the code location loads
(the partitions need VAST_PIPELINES_TIMEZONE and VAST_PIPELINES_HISTORY_START, never read at import)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.config import history_start, schedule_timezone
from vast_pipelines.defs.costs.history import build_daily_cost_history
from vast_pipelines.defs.costs.partitions import CostPartitions, cost_partitions
from vast_pipelines.defs.costs.reviews import build_review_assets

# The morning rollup runs before the 08:00 health check; the reviews after it.
HISTORY_HOUR, HISTORY_MINUTE = 7, 30
REVIEW_HOUR = 9


def daily_cost_history_schedule(partitions: CostPartitions, job) -> dg.ScheduleDefinition:
    """Every morning: roll up yesterday, and again the day before to pick up its late rows."""

    @dg.schedule(
        name="daily_cost_history_schedule",
        job=job,
        cron_schedule=f"{HISTORY_MINUTE} {HISTORY_HOUR} * * *",
        execution_timezone=partitions.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        at = context.scheduled_execution_time or clock.now()
        today = at.astimezone(ZoneInfo(partitions.timezone)).date()
        keys = [str(today - timedelta(days=n)) for n in (1, 2)]
        requests = [
            dg.RunRequest(partition_key=key, run_key=f"{key}@{today}", tags={"vast_pipelines/rollup": label})
            for key, label in zip(keys, ("yesterday", "late rows"), strict=True)
            if key >= partitions.start
        ]
        return requests or dg.SkipReason(f"No cost history partition before {today} (starts {partitions.start})")

    return _schedule


@dg.definitions
def cost_history() -> dg.Definitions:
    """daily_cost_history, weekly_cost_report and monthly_cost_report with their jobs and schedules."""
    partitions = cost_partitions(schedule_timezone(), history_start())
    history = build_daily_cost_history(partitions)
    weekly, monthly = build_review_assets(partitions)
    history_job = dg.define_asset_job(
        "daily_cost_history_job",
        selection=[history],
        description="Roll up one day of vast_ai_costs into the cost history.",
    )
    weekly_job = dg.define_asset_job(
        "weekly_cost_report_job", selection=[weekly], description="The guide's Weekly Review (every Monday)."
    )
    monthly_job = dg.define_asset_job(
        "monthly_cost_report_job", selection=[monthly], description="The guide's Monthly Review (on the 1st)."
    )
    return dg.Definitions(
        assets=[history, weekly, monthly],
        jobs=[history_job, weekly_job, monthly_job],
        schedules=[
            daily_cost_history_schedule(partitions, history_job),
            dg.build_schedule_from_partitioned_job(
                weekly_job,
                name="weekly_cost_report_schedule",
                description="Monday 09:00: the Weekly Review of the week that ended.",
                hour_of_day=REVIEW_HOUR,
                minute_of_hour=0,
                day_of_week=1,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            dg.build_schedule_from_partitioned_job(
                monthly_job,
                name="monthly_cost_report_schedule",
                description="The 1st at 09:00: the Monthly Review of the month that ended.",
                hour_of_day=REVIEW_HOUR,
                minute_of_hour=0,
                day_of_month=1,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
        ],
    )
