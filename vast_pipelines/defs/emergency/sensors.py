import json

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.emergency.shutdown import emergency_shutdown
from vast_pipelines.defs.emergency.steps import EMERGENCY_TAG
from vast_pipelines.defs.guards import fail_when_blind
from vast_pipelines.policy.emergency import Reason, emergency_triggers
from vast_pipelines.policy.periods import periods_at
from vast_pipelines.policy.spend import usd
from vast_pipelines.reports.health import spent, uncounted_lines
from vast_pipelines.reports.insights import stale_text
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.insights import cost_freshness
from vast_pipelines.resources.settings import RunbookSettings


def fired_this_month(cursor: str | None, month: str) -> set[str]:
    """Run keys already requested this month (``runaway:YYYY-MM-DD``, ``hard_cap:YYYY-MM``)."""
    try:
        fired = json.loads(cursor or "{}").get("fired", [])
    except (ValueError, AttributeError):
        return set()
    return {key for key in fired if key.split(":", 1)[-1].startswith(month)}


@dg.sensor(
    name="runaway_cost_sensor",
    job=emergency_shutdown,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The guide's Runaway Costs trigger: today's spend over $50 (runaway_daily) or month-to-date at the "
    "$200 hard cap starts emergency_shutdown, once per day (runaway) or once per month (hard cap).",
)
@fail_when_blind
def runaway_cost_sensor(
    context: dg.SensorEvaluationContext, database: AnalyticsDatabase, settings: RunbookSettings
) -> dg.SensorResult:
    """One indexed query per tick; run keys (and the cursor) make each day's or month's trigger fire once."""
    tz, limits = settings.tz(), settings.limits()
    periods = periods_at(clock.now(), tz)
    spend = database.spend_summary(periods, rolling_24h=False)
    today = periods.today_start.date()
    month = f"{today:%Y-%m}"
    fired = fired_this_month(context.cursor, month)
    triggers = [t for t in emergency_triggers(spend, today, limits) if t.run_key not in fired]
    status = (
        f"Today {spent(spend.today_cost, spend.today_has_cost)} ({spend.today_requests:,} requests; runaway over "
        f"{usd(limits.runaway_daily)}/day), month-to-date {spent(spend.month_to_date, spend.month_has_cost)} "
        f"(hard cap {usd(limits.hard_cap)})"
    )
    if spend.today_requests == 0:
        status += "; no cost rows logged today"
    status += "".join(f"; {line}" for line in uncounted_lines(spend))
    freshness = cost_freshness(database, periods.now, limits)
    if freshness.stale and freshness.since is not None:
        status += f"; verdict {stale_text(freshness, tz)}, spend may be higher"
    if not triggers:
        return dg.SensorResult(skip_reason=f"{status}: no new emergency.", cursor=json.dumps({"fired": sorted(fired)}))
    # The hard cap outranks a runaway day: one run answers both when they arrive together.
    triggers.sort(key=lambda t: t.reason is not Reason.HARD_CAP)
    first = triggers[0]
    context.log.warning(f"Starting emergency_shutdown: {'; '.join(t.summary for t in triggers)}")
    request = dg.RunRequest(
        run_key=first.run_key,
        run_config={
            "ops": {"check_current_spend": {"config": {"reason": first.reason.value, "trigger_spend": first.spend}}}
        },
        tags={
            EMERGENCY_TAG: "true",
            "vast_pipelines/reason": ",".join(t.reason.value for t in triggers),
            "vast_pipelines/trigger": first.summary,
            "vast_pipelines/today_spend": f"{spend.today_cost:.2f}",
            "vast_pipelines/month_to_date": f"{spend.month_to_date:.2f}",
        },
    )
    cursor = json.dumps({"fired": sorted(fired | {t.run_key for t in triggers})})
    return dg.SensorResult(run_requests=[request], cursor=cursor)
