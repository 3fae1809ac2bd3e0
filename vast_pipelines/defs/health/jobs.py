import dagster as dg

from vast_pipelines.config import schedule_timezone

daily_health_check = dg.define_asset_job(
    "daily_health_check",
    # The troubleshooting checks (top cost drivers, latency percentiles) are refreshed every morning too.
    selection=dg.AssetSelection.groups("health") | dg.AssetSelection.assets("top_cost_drivers", "latency_percentiles"),
    description="The guide's Morning Health Check: endpoints, Tailscale, Vast.ai workers, yesterday's spend, "
    "today's top cost drivers and the last 24 h latency percentiles.",
)


@dg.definitions
def health_schedules() -> dg.Definitions:
    """Every morning at 08:00 in VAST_PIPELINES_TIMEZONE."""
    return dg.Definitions(
        schedules=[
            dg.ScheduleDefinition(
                name="daily_health_check_schedule",
                job=daily_health_check,
                cron_schedule="0 8 * * *",
                execution_timezone=schedule_timezone(),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ]
    )
