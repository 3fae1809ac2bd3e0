import json
from datetime import date

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.alerts.delivery import ALERT_TAG, deliver_alerts, delivery_request
from vast_pipelines.defs.cost_freshness import cost_freshness
from vast_pipelines.defs.guards import fail_when_blind
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.notifications.alerts import alert_messages
from vast_pipelines.policy.alerts import alerts_to_send, budget_decision, next_level
from vast_pipelines.policy.spend import forecast_month_end
from vast_pipelines.reports.alerts import budget_alert, budget_status, forecast_alert, uncounted_costs_alert
from vast_pipelines.reports.insights import stale_text
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store.outbox import OutboxMessage


def known_claims(cursor: str | None, month: date) -> set[str]:
    """Alert keys already claimed this month, as the last tick saw them (a cache; the database decides)."""
    try:
        state = json.loads(cursor or "{}")
    except ValueError:
        return set()
    return set(state.get("claimed", [])) if state.get("month") == month.isoformat() else set()


BUDGET_STATUS_TAG = "vast_pipelines/budget_status"
BUDGET_STATUS_LIMIT = 1000  # characters: a tag is a label, the full figures are in the alert


@dg.sensor(
    name="budget_alert_sensor",
    job=deliver_alerts,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The guide's Cost Alerts: month-to-date spend crossing $50 info, $100 warning, $150 critical, "
    "$200 emergency sends one alert per level per month to #platform-alerts and platform-ops by email, "
    "and a forecast reaching the hard cap before month end warns ahead.",
)
@fail_when_blind
def budget_alert_sensor(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.SensorResult:
    """One indexed query per tick; a level is claimed in the database in the transaction that queues its alert,
    so a re-evaluated tick, a restarted daemon or a second code server never alerts twice; a `deliver_alerts`
    run sends what was queued."""
    tz, limits = zone_and_limits(settings)
    periods = periods_at(clock.now(), tz)
    month = periods.month_start.date()
    spend = database.spend.summary(periods, rolling_24h=False)
    forecast = forecast_month_end(spend.month_to_date, spend.last_7_days_cost, periods, limits)
    decision = budget_decision(spend, forecast, month.isoformat(), limits, today=periods.today_start.date())
    ahead = next_level(spend.month_to_date, limits)
    freshness = cost_freshness(database, periods.now, limits, spend)
    stale = stale_text(freshness, tz) if freshness.stale and freshness.since is not None else None
    known = known_claims(context.cursor, month)

    def compose(claimed: set[str]) -> list[OutboxMessage]:
        plan = alerts_to_send(decision, claimed)
        seen = {"now": periods.now, "tz": tz, "source": database.label}  # what every alert says it read, and when
        alerts = []  # (message, kind, dedupe key after "budget:")
        if plan.level:
            level = plan.level.value
            message = budget_alert(
                plan.level,
                spend,
                forecast,
                mention=slack.oncall_mention,
                apply_actions=settings.apply_actions,
                limits=limits,
                stale=stale,
                **seen,
            )
            alerts.append((message, f"budget_{level}", f"{month:%Y-%m}:{level}"))
        if plan.uncounted:
            alerts.append((uncounted_costs_alert(spend, **seen), "uncounted_costs", decision.uncounted_key))
        if plan.forecast:
            message = forecast_alert(spend, forecast, mention=slack.oncall_mention, limits=limits, **seen)
            alerts.append((message, "budget_forecast", f"{month:%Y-%m}:forecast"))
        return [
            copy
            for message, kind, key in alerts
            for copy in alert_messages(slack, email, message, kind=kind, dedupe_key=f"budget:{key}")
        ]

    new_keys = [key for key in decision.keys if key not in known]
    requests = []
    if new_keys:
        claimed, rows = database.alerts.claim_levels(
            month=month,
            month_to_date=spend.month_to_date,
            keys=decision.keys,
            notify=decision.notify_keys(),
            compose=compose,
        )
        kinds = sorted({row.kind for row in rows})
        if rows:
            # The tick decides and records (claim + queue, one transaction); a run delivers.
            context.log.warning(f"Claimed {', '.join(sorted(claimed))}; delivering {', '.join(kinds)}")
            key = f"budget:{month:%Y-%m}:{'+'.join(sorted(claimed))}"
            # What the tick saw travels with the run it requests (a tick with run requests shows no skip line).
            status = budget_status(decision, spend, ahead, stale)[:BUDGET_STATUS_LIMIT]
            requests.append(delivery_request(key, rows, {ALERT_TAG: ",".join(kinds), BUDGET_STATUS_TAG: status}))
        elif claimed:
            context.log.info(f"Claimed {', '.join(sorted(claimed))} without a message (a higher level is alerted)")
    cursor = json.dumps({"month": month.isoformat(), "claimed": sorted(known | set(decision.keys))})
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    return dg.SensorResult(skip_reason=budget_status(decision, spend, ahead, stale), cursor=cursor)
