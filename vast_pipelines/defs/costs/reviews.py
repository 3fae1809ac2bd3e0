"""``weekly_cost_report`` and ``monthly_cost_report``: the guide's Weekly and Monthly Reviews, read from
the cost history, kept in PostgreSQL and posted to #platform-updates with a chart."""

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from vast_pipelines.definitions import code_location
from vast_pipelines.defs.costs.checks import band_check
from vast_pipelines.defs.costs.history import GROUP, load_history, other_zone_days, record_rolled_up_days
from vast_pipelines.defs.costs.partitions import CostPartitions, last_complete_partition
from vast_pipelines.defs.metadata import (
    RECOMMENDATION_COLUMNS,
    chart_markdown,
    records_table,
    report_entries,
    summary_first,
)
from vast_pipelines.notifications import Sent, send_slack
from vast_pipelines.policy.periods import local_midnight
from vast_pipelines.policy.reviews import (
    Review,
    monthly_history_range,
    monthly_review,
    weekly_history_range,
    weekly_review,
)
from vast_pipelines.policy.thresholds import Thresholds
from vast_pipelines.reports.charts import model_series, monthly_chart, weekly_chart
from vast_pipelines.reports.costs import guide_day_row, monthly_report, ready_fixes, ready_fixes_text, weekly_report
from vast_pipelines.reports.deploy import update_worker_recommendation
from vast_pipelines.reports.figures import dollars, guide_figures, per_request
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.reports.insights import weekly_insights_section
from vast_pipelines.resources.cost_history import CostHistory, save_report
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.insights import episodes_between, recommended_settings, reconciliation_between
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource

MONTHLY_BUDGET_CHECK = "monthly_budget"


class ReviewConfig(dg.Config):
    """When a review is posted to Slack."""

    post_to_slack: bool | None = Field(
        default=None,
        description="Post to SLACK_UPDATES_CHANNEL. Unset: only the latest complete period is posted, once "
        "(what the schedule runs; a backfill of older periods stays quiet). true: post this run (e.g. after "
        "late rows). false: never.",
    )


@dataclass(frozen=True)
class ReviewRun:
    """A review with its text and chart, ready to keep and to post."""

    review: Review
    text: str
    chart: bytes
    history: CostHistory
    rolled_up_now: list[date]


_KINDS = {
    "weekly": (weekly_history_range, weekly_review, weekly_report),
    "monthly": (monthly_history_range, monthly_review, monthly_report),
}


def review_figures(
    kind: str,
    database: AnalyticsDatabase,
    first: date,
    partitions: CostPartitions,
    limits: Thresholds,
    run_id: str | None = None,
    log: logging.Logger | dg.DagsterLogManager | None = None,
) -> tuple[Review, CostHistory, list[date]]:
    """The ``weekly`` or ``monthly`` review of the period starting ``first``, from the cost history.

    Returns the review, the history it read and the days rolled up now because they were missing.
    """
    history_range, build, _ = _KINDS[kind]
    history, rolled = load_history(database, *history_range(first), partitions, run_id, log)
    zone = partitions.timezone
    review = build(history.rows, set(history.days), first, ZoneInfo(zone), limits, other_zone_days(history, zone))
    return review, history, rolled


def review_run(
    kind: str,
    database: AnalyticsDatabase,
    first: date,
    partitions: CostPartitions,
    limits: Thresholds,
    run_id: str | None = None,
    log: logging.Logger | dg.DagsterLogManager | None = None,
) -> ReviewRun:
    """The review with its text and chart."""
    review, history, rolled = review_figures(kind, database, first, partitions, limits, run_id, log)
    zone = partitions.timezone
    text = _KINDS[kind][2](review, zone, database.label, limits)
    if kind == "weekly":
        chart = weekly_chart(review, zone, limits)
    else:
        in_period = [r for r in history.rows if review.first <= r.day < review.end]
        chart = monthly_chart(review, model_series(review, in_period), zone, limits)
    return ReviewRun(review, text, chart, history, rolled)


def should_post(config: ReviewConfig, partition_key: str, latest_key: str | None) -> bool:
    """Post the latest complete period by default; any period when asked; none when told not to."""
    if config.post_to_slack is not None:
        return config.post_to_slack
    return partition_key == latest_key


def keep_and_post(
    context: dg.AssetExecutionContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    config: ReviewConfig,
    run: ReviewRun,
    report: str,
    zone: str,
    verdict: str,
) -> Sent | None:
    """Store the review in ``vast_pipelines.cost_reports`` (and the weekly table), then post it with its chart."""
    review = run.review
    save_report(
        database,
        report=report,
        period_start=review.first,
        period_end=review.end,
        timezone=zone,
        run_id=context.run.run_id,
        totals=review.totals,
        verdict=verdict,
        figures=dataclasses.asdict(review),
        markdown=run.text,
        weekly_days=[guide_day_row(d) for d in review.days] if review.kind == "weekly" else None,
    )
    latest = last_complete_partition(context.assets_def.partitions_def)
    if not should_post(config, context.partition_key, latest):
        context.log.info(f"{report} {context.partition_key}: not posted (not the latest period; post_to_slack unset)")
        return None
    # Posted once per period unless explicitly asked again (post_to_slack=true).
    suffix = f":{context.run.run_id}" if config.post_to_slack else ""
    sent = send_slack(
        database,
        slack,
        channel=slack.updates_channel,
        text=run.text,
        kind=report,
        dedupe_key=f"{report}:{context.partition_key}{suffix}",
        attachment_name=f"{report.replace('_', '-')}-{context.partition_key}.png",
        attachment=run.chart,
        title=f"{review.kind.capitalize()} cost {context.partition_key} ({zone})",
    )
    if sent.delivery and sent.delivery.status != "delivered":
        context.log.warning(
            f"{report} kept in the outbox (id {sent.outbox_id}) as {sent.status}: {sent.delivery.error}"
        )
    return sent


def week_insights(database: AnalyticsDatabase, week: date, zone: str) -> str:
    """The week's stale-data and anomaly episodes, billing reconciliation and idle-timeout advice."""
    tz = ZoneInfo(zone)
    end = week + timedelta(days=7)
    episodes = episodes_between(database, local_midnight(week, tz), local_midnight(end, tz))
    advice = [
        (
            r["model"],
            (f"min_workers {r['min_workers']}" if r["min_workers"] else f"idle_timeout {r['idle_timeout']} s")
            + f" keeps the cold-start rate at {r['cold_start_rate']:.0%} for {r['warm_gpu_hours']:,.1f} warm GPU h"
            f" (idle_timeout_what_if, {r['window_start']:%Y-%m-%d} to {r['window_end']:%Y-%m-%d})",
        )
        for r in recommended_settings(database)
    ]
    return weekly_insights_section(episodes, reconciliation_between(database, week, end), advice, tz)


def guide_table(review: Review) -> dg.TableMetadataValue:
    """The guide's ``day, daily_cost, requests, cost_per_request`` as a Dagster table (newest first)."""
    records = []
    for day in sorted(review.days, key=lambda d: d.day, reverse=True):
        row = guide_day_row(day)
        records.append(
            dg.TableRecord(
                {
                    "day": str(day.day),
                    "daily_cost": dollars(row["daily_cost"]),
                    "requests": day.totals.requests,
                    "cost_per_request": per_request(row["cost_per_request"]),
                }
            )
        )
    return dg.MetadataValue.table(
        records=records,
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("day", "date"),
                dg.TableColumn("daily_cost", "float", description="USD; empty when no data"),
                dg.TableColumn("requests", "int"),
                dg.TableColumn("cost_per_request", "float", description="SUM(cost) / COUNT(*), USD"),
            ]
        ),
    )


def _common_metadata(run: ReviewRun, sent: Sent | None, title: str) -> dict:
    review = run.review
    return {
        "cold_start_requests": review.totals.cold_start_requests,
        "null_cost_requests": review.totals.null_cost_requests,
        "days_rolled_up_now": len(run.rolled_up_now),
        "recommendations": records_table(
            [dataclasses.asdict(r) for r in review.recommendations], RECOMMENDATION_COLUMNS
        ),
        "concerns": len(review.concerns),
        "slack_delivery": sent.status if sent else "not posted",
        "chart": chart_markdown(run.chart, title),
        **report_entries(as_markdown(run.text)),
    }


def build_review_assets(partitions: CostPartitions) -> list[dg.AssetsDefinition]:
    """``weekly_cost_report`` (weeks from Monday) and ``monthly_cost_report`` on the history's partitions."""

    @dg.asset(
        name="weekly_cost_report",
        group_name=GROUP,
        kinds={"postgres", "slack"},
        partitions_def=partitions.weekly,
        deps=["daily_cost_history"],
    )
    def weekly_cost_report(
        context: dg.AssetExecutionContext,
        config: ReviewConfig,
        database: AnalyticsDatabase,
        slack: SlackResource,
        settings: RunbookSettings,
        vast: VastAIResource,
    ) -> dg.MaterializeResult:
        """The guide's Weekly Review of one Monday-to-Sunday week: `day, daily_cost, requests,
        cost_per_request` from the cost history, the month-end forecast and hard-cap date, cold-start
        economics per model, optimization opportunities and flagged concerns; kept in
        `vast_pipelines.weekly_cost_report` and posted to #platform-updates with a cost chart."""
        limits = settings.limits()
        week = date.fromisoformat(context.partition_key)
        run = review_run("weekly", database, week, partitions, limits, context.run.run_id, context.log)
        fixes = ready_fixes(run.review.recommendations, vast.owned_names())
        if fixes:
            run = dataclasses.replace(run, text=f"{run.text}\n{ready_fixes_text(fixes)}")
        record_rolled_up_days(context, run.history, run.rolled_up_now, partitions.timezone, limits)
        review = run.review
        verdict = "no data" if not review.totals.has_cost else f"{len(review.concerns)} concern(s)"
        run = dataclasses.replace(run, text=f"{run.text}\n\n{week_insights(database, week, partitions.timezone)}")
        sent = keep_and_post(context, database, slack, config, run, "weekly_cost_report", partitions.timezone, verdict)
        money = {}
        if review.totals.has_cost:
            money = {
                "weekly_cost": float(review.totals.cost or 0),
                "cost_per_request": float(review.totals.cost_per_request or 0),
            }
        if review.forecast is not None:
            money["forecast_month_end"] = review.forecast.month_end
        return dg.MaterializeResult(
            metadata=summary_first(
                {
                    **guide_figures(money),
                    "requests": review.totals.requests,
                    "days": guide_table(review),
                    "hard_cap_date": str(review.forecast.hard_cap_date or "not this month") if review.forecast else "",
                    **_common_metadata(run, sent, f"Daily cost, week of {week}"),
                    "ready_fixes": dg.MetadataValue.md(
                        "\n\n".join(update_worker_recommendation(e, c, code_location(context)) for e, c in fixes)
                        or "none"
                    ),
                }
            )
        )

    @dg.asset(
        name="monthly_cost_report",
        group_name=GROUP,
        kinds={"postgres", "slack"},
        partitions_def=partitions.monthly,
        deps=["daily_cost_history"],
        check_specs=[
            dg.AssetCheckSpec(
                MONTHLY_BUDGET_CHECK,
                asset="monthly_cost_report",
                description="The month against the budget: warn when acceptable ($100-150), fail over $150.",
            )
        ],
    )
    def monthly_cost_report(
        context: dg.AssetExecutionContext,
        config: ReviewConfig,
        database: AnalyticsDatabase,
        slack: SlackResource,
        settings: RunbookSettings,
    ) -> dg.MaterializeResult:
        """The guide's Monthly Review of one calendar month: `monthly_cost, total_requests,
        avg_cost_per_request` from the cost history, the budget verdict (target < $100, acceptable
        $100-150, over > $150), the per-model breakdown with cold-start economics and, when over budget,
        the optimization plan with each item's saving on this month's cost; posted to #platform-updates
        with a chart."""
        limits = settings.limits()
        month = date.fromisoformat(context.partition_key)
        run = review_run("monthly", database, month, partitions, limits, context.run.run_id, context.log)
        record_rolled_up_days(context, run.history, run.rolled_up_now, partitions.timezone, limits)
        review = run.review
        assert review.budget is not None
        verdict = review.budget.value
        sent = keep_and_post(context, database, slack, config, run, "monthly_cost_report", partitions.timezone, verdict)
        money = {}
        if review.totals.has_cost:
            money = {
                "monthly_cost": float(review.totals.cost or 0),
                "avg_cost_per_request": float(review.totals.cost_per_request or 0),
            }
        return dg.MaterializeResult(
            metadata=summary_first(
                {
                    **guide_figures(money),
                    "total_requests": review.totals.requests,
                    "budget_verdict": verdict,
                    "models": len(review.models),
                    **_common_metadata(run, sent, f"Cost by model, {month:%B %Y}"),
                }
            ),
            check_results=[
                band_check(MONTHLY_BUDGET_CHECK, verdict, good="on target", bad="over budget", metadata=money)
            ],
        )

    return [weekly_cost_report, monthly_cost_report]
