import dataclasses
from decimal import Decimal

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.config import history_start
from vast_pipelines.defs.cost_freshness import cost_freshness
from vast_pipelines.defs.costs.history import load_history, record_rolled_up_days
from vast_pipelines.defs.costs.partitions import cost_partitions
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.metadata import records_table, report_entries, summary_first
from vast_pipelines.defs.probes import check_endpoints, vast_summary
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.costs import CostTotals
from vast_pipelines.domain.periods import Periods, periods_at
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.notifications.delivery import send_slack
from vast_pipelines.policy.costs import DayCost, month_by_day
from vast_pipelines.policy.health import EndpointStatus
from vast_pipelines.policy.spend import daily_verdict, day_verdict, forecast_month_end
from vast_pipelines.reports.figures import dollars, guide_figures
from vast_pipelines.reports.health import (
    as_markdown,
    endpoints_section,
    health_report,
    month_so_far_section,
    offline_actions,
    spend_section,
    status_label,
)
from vast_pipelines.reports.insights import stale_text
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.tailscale import TailscaleResource
from vast_pipelines.resources.vast import VastAIResource

GROUP = "health"
VLLM_ONLINE_CHECK = "vllm_online"
OLLAMA_ONLINE_CHECK = "ollama_online"
DAILY_SPEND_BAND_CHECK = "daily_spend_band"


def _endpoint_record(status: EndpointStatus) -> dict:
    record = dataclasses.asdict(status)
    record["failure"] = status.failure.value if status.failure else None
    record["actions"] = offline_actions(status)
    return record


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    check_specs=[
        dg.AssetCheckSpec(
            VLLM_ONLINE_CHECK, asset="endpoint_health", description="vLLM answers /health and lists models."
        ),
        dg.AssetCheckSpec(OLLAMA_ONLINE_CHECK, asset="endpoint_health", description="Ollama lists models."),
    ],
)
def endpoint_health(
    context: dg.AssetExecutionContext,
    database: AnalyticsDatabase,
    endpoints: InferenceEndpoints,
    tailscale: TailscaleResource,
    vast: VastAIResource,
) -> dg.MaterializeResult:
    """The guide's morning endpoint test: vLLM `/health` and `/v1/models`, Ollama `/api/tags`, latency,
    Tailscale peer state and the Vast.ai workers' status. A timeout or refused connection may be a cold
    start: wait 30 s and retry once before calling the endpoint OFFLINE."""
    started = clock.now()
    statuses = check_endpoints(endpoints)
    peer = tailscale.peer_state()
    vast_view = vast_summary(vast)
    text = endpoints_section(statuses, peer.state, peer.detail, vast_view)
    for status in statuses:
        context.log.info(f"{status.name}: {status_label(status)} after {status.attempts} attempt(s) {status.detail}")
    database.health.save_endpoints(
        run_id=context.run.run_id,
        at=started,
        data=[_endpoint_record(s) for s in statuses],
        text=text,
        all_online=all(s.online for s in statuses),
    )
    vllm, ollama = statuses
    latencies = {f"{s.name.lower()}_latency_ms": s.latency_ms for s in statuses if s.latency_ms is not None}
    return dg.MaterializeResult(
        metadata={
            "vllm_online": vllm.online,
            "ollama_online": ollama.online,
            **latencies,
            "tailscale": peer.state,
            "report": dg.MetadataValue.md(as_markdown(text)),
        },
        check_results=[_online_check(VLLM_ONLINE_CHECK, vllm), _online_check(OLLAMA_ONLINE_CHECK, ollama)],
    )


def _online_check(name: str, status: EndpointStatus) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=status.online,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "status": status_label(status),
            "models": ", ".join(status.models) or "none",
            "attempts": status.attempts,
            "reason": status.failure.value if status.failure else "",
        },
    )


def month_so_far(
    context: dg.AssetExecutionContext,
    database: AnalyticsDatabase,
    settings: RunbookSettings,
    periods: Periods,
    spend: SpendSummary,
) -> list[DayCost]:
    """The month's days from the cost history (a missing day is rolled up now and recorded as a
    ``daily_cost_history`` materialization, as the reviews do) and today so far from the raw rows."""
    tz, limits = zone_and_limits(settings)
    zone = tz.key
    first, today = periods.month_start.date(), periods.today_start.date()
    history, rolled = load_history(
        database, first, today, cost_partitions(zone, history_start()), context.run.run_id, context.log
    )
    record_rolled_up_days(context, history, rolled, zone, limits)
    today_totals = CostTotals(
        requests=spend.today_requests,
        cost=Decimal(str(spend.today_cost)) if spend.today_requests else None,
    )
    return month_by_day(history.rows, history.days, first, today, today_totals)


def month_table(days: list[DayCost], limits: Thresholds, stale: bool) -> dg.TableMetadataValue:
    """The month so far as the UI's table: the guide's columns and each day's verdict, newest first."""
    today = days[-1].day
    return records_table(
        [
            {
                "day": f"{d.day:%Y-%m-%d %a}" + (" (so far)" if d.day == today else ""),
                "daily_cost": d.totals.cost if d.has_data else None,
                "requests": d.totals.requests,
                "cost_per_request": d.totals.cost_per_request,
                "verdict": day_verdict(d, limits, stale=stale and d.day == today).value,
            }
            for d in reversed(days)
        ],
        [
            ("day", "string"),
            ("daily_cost", "float"),
            ("requests", "int"),
            ("cost_per_request", "float"),
            ("verdict", "string"),
        ],
    )


@dg.asset(
    group_name=GROUP,
    kinds={"sql", "postgres"},
    deps=[vast_ai_costs],
    check_specs=[
        dg.AssetCheckSpec(
            DAILY_SPEND_BAND_CHECK,
            asset="yesterday_spend",
            description="Last 24 h spend in the guide's bands: warn at moderate ($5-10), fail at high ($10+).",
        )
    ],
)
def yesterday_spend(
    context: dg.AssetExecutionContext, database: AnalyticsDatabase, settings: RunbookSettings
) -> dg.MaterializeResult:
    """The guide's "Yesterday's Spend" (rolling 24 h), the previous calendar day, today so far,
    month-to-date and a month-end forecast from the last 7 days' run rate, from `vast_ai_costs`."""
    tz, limits = zone_and_limits(settings)
    periods = periods_at(clock.now(), tz)
    spend = database.spend.summary(periods)
    forecast = forecast_month_end(spend.month_to_date, spend.last_7_days_cost, periods, limits)
    freshness = cost_freshness(database, periods.now, limits, spend)
    # A table that never had a row is "no data" already; one that went silent makes every verdict unknown.
    stale = stale_text(freshness, tz) if freshness.stale and freshness.since is not None else None
    days = month_so_far(context, database, settings, periods, spend)
    text = spend_section(spend, forecast, periods.now, tz, limits, stale=stale)
    text += "\n" + month_so_far_section(days, periods.today_start.date(), limits, stale=stale is not None)
    database.health.save_spend(
        run_id=context.run.run_id,
        at=periods.now,
        data={**dataclasses.asdict(spend), "forecast": dataclasses.asdict(forecast), "stale": stale},
        text=text,
    )
    verdict = daily_verdict(
        spend.rolling_24h_cost if spend.rolling_24h_has_cost else None,
        spend.rolling_24h_requests,
        limits,
        stale=stale is not None,
    )
    band_check = dg.AssetCheckResult(
        check_name=DAILY_SPEND_BAND_CHECK,
        passed=verdict.value in ("excellent",),
        severity=dg.AssetCheckSeverity.ERROR if verdict.value == "high" else dg.AssetCheckSeverity.WARN,
        metadata={"verdict": stale or verdict.value, "yesterday_spend": dollars(spend.rolling_24h_cost)},
    )
    return dg.MaterializeResult(
        metadata=summary_first(
            guide_figures(
                {
                    "yesterday_spend": spend.rolling_24h_cost,
                    "previous_day_spend": spend.previous_day_cost,
                    "month_to_date": spend.month_to_date,
                    "forecast_month_end": forecast.month_end,
                    "requests_24h": spend.rolling_24h_requests,
                    "daily_verdict": stale or verdict.value,
                    "null_cost_rows": spend.month_null_cost_rows,
                    "invalid_cost_rows": spend.month_invalid_cost_rows,
                    "negative_cost_rows": spend.month_negative_cost_rows,
                    "credits_month_to_date": spend.month_credit,
                    "future_rows": spend.future_rows,
                    "hard_cap_date": str(forecast.hard_cap_date or "not this month"),
                    "database": database.label,
                    "month_so_far": month_table(days, limits, stale is not None),
                    **report_entries(as_markdown(text)),
                }
            )
        ),
        check_results=[band_check],
    )


@dg.asset(group_name=GROUP, kinds={"slack", "postgres"}, deps=[endpoint_health, yesterday_spend])
def health_check_report(
    context: dg.AssetExecutionContext, database: AnalyticsDatabase, slack: SlackResource, settings: RunbookSettings
) -> dg.MaterializeResult:
    """The morning health check as the guide's script prints it, kept in `vast_pipelines.health_checks`
    and posted to #platform-updates (through the notification outbox)."""
    now = clock.now()
    endpoints_text, spend_text = database.health.parts(context.run.run_id)
    report = health_report(now, settings.tz(), database.label, endpoints_text, spend_text)
    database.health.save_report(run_id=context.run.run_id, report=report)
    sent = send_slack(
        database,
        slack,
        channel=slack.updates_channel,
        text=report,
        kind="health_check",
        dedupe_key=f"health_check:{context.run.run_id}",
    )
    if sent.delivery and sent.delivery.status != "delivered":
        context.log.warning(
            f"Health check report kept in the outbox (id {sent.outbox_id}) as {sent.status}: {sent.delivery.error}"
        )
    context.log.info("\n" + report)
    return dg.MaterializeResult(
        metadata={
            **report_entries(as_markdown(report)),
            "slack_delivery": sent.status,
            "outbox_id": sent.outbox_id or 0,
        }
    )
