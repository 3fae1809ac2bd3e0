import dagster as dg

from vast_pipelines.config import history_start, schedule_timezone
from vast_pipelines.defs.costs.partitions import cost_partitions
from vast_pipelines.defs.insights.backtest import build_backtest_job

insights_job = dg.define_asset_job(
    "insights_job",
    selection=dg.AssetSelection.groups("insights"),
    description="Cost data freshness, idle-timeout what-if, cost anomalies and billing reconciliation.",
)


@dg.definitions
def insights_definitions() -> dg.Definitions:
    """The insights every morning at 08:15 (after the health check, before Monday's weekly review), and the
    alert-rule backtest."""
    timezone = schedule_timezone()
    return dg.Definitions(
        jobs=[build_backtest_job(cost_partitions(timezone, history_start()))],
        schedules=[
            dg.ScheduleDefinition(
                name="insights_schedule",
                job=insights_job,
                cron_schedule="15 8 * * *",
                execution_timezone=timezone,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
