"""A review's run: the figures read from the cost history, its text and chart, kept and posted (the work the
review assets share, and what the benchmarks time)."""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from vast_pipelines.defs.costs.history import load_history, other_zone_days
from vast_pipelines.defs.costs.partitions import CostPartitions, last_complete_partition
from vast_pipelines.domain.periods import local_midnight
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.notifications.delivery import Sent, send_slack
from vast_pipelines.policy.reviews import (
    Review,
    monthly_history_range,
    monthly_review,
    weekly_history_range,
    weekly_review,
)
from vast_pipelines.reports.charts import model_series, monthly_chart, weekly_chart
from vast_pipelines.reports.concerns import review_record
from vast_pipelines.reports.costs import guide_day_row, monthly_report, weekly_report
from vast_pipelines.reports.figures import dollars, per_request
from vast_pipelines.reports.insights import weekly_insights_section
from vast_pipelines.reports.what_if import recommended_setting_text
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store.cost_history import CostHistory


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
    database.cost_reports.save(
        report=report,
        period_start=review.first,
        period_end=review.end,
        timezone=zone,
        run_id=context.run.run_id,
        totals=review.totals,
        verdict=verdict,
        figures=review_record(review),
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
    episodes = database.alerts.episodes_between(local_midnight(week, tz), local_midnight(end, tz))
    advice = [(r["model"], recommended_setting_text(r)) for r in database.insights.recommended_settings()]
    return weekly_insights_section(episodes, database.insights.reconciliation_between(week, end), advice, tz)


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
