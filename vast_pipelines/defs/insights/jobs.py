import dagster as dg

from vast_pipelines.config import history_start, schedule_timezone
from vast_pipelines.defs.costs.partitions import cost_partitions
from vast_pipelines.defs.insights.anomalies import ANOMALIES_ASSET
from vast_pipelines.defs.insights.backtest import build_backtest_job
from vast_pipelines.defs.insights.freshness import FRESHNESS_ASSET, GROUP

# Freshness and anomalies are judged by their sensors every few minutes, which record each change of verdict on
# the asset; a morning run would judge the same thing once more.
insights_job = dg.define_asset_job(
    "insights_job",
    selection=dg.AssetSelection.groups(GROUP) - dg.AssetSelection.assets(FRESHNESS_ASSET, ANOMALIES_ASSET),
    description="Idle-timeout what-if and billing reconciliation (cost data freshness and cost anomalies are kept "
    "current by cost_freshness_sensor and cost_anomaly_sensor).",
)


@dg.definitions
def insights_definitions() -> dg.Definitions:
    """The idle-timeout what-if and the billing reconciliation every morning at 08:15 (after the health check,
    before Monday's weekly review), and the alert-rule backtest."""
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
