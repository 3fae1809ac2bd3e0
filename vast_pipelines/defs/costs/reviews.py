"""``weekly_cost_report`` and ``monthly_cost_report``: the guide's Weekly and Monthly Reviews, read from
the cost history, kept in PostgreSQL and posted to #platform-updates with a chart."""

import dataclasses
from datetime import date

import dagster as dg

from vast_pipelines.definitions import code_location
from vast_pipelines.defs.costs.checks import band_check
from vast_pipelines.defs.costs.history import GROUP, record_rolled_up_days
from vast_pipelines.defs.costs.partitions import CostPartitions
from vast_pipelines.defs.costs.review_runs import (
    ReviewConfig,
    ReviewRun,
    guide_table,
    keep_and_post,
    review_run,
    week_insights,
)
from vast_pipelines.defs.metadata import (
    RECOMMENDATION_COLUMNS,
    chart_markdown,
    records_table,
    report_entries,
    summary_first,
)
from vast_pipelines.notifications.delivery import Sent
from vast_pipelines.policy.recommendations import ready_fixes
from vast_pipelines.reports.costs import ready_fixes_text
from vast_pipelines.reports.deploy import update_worker_recommendation
from vast_pipelines.reports.figures import guide_figures
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.reports.recommendations import recommendation_record
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource

MONTHLY_BUDGET_CHECK = "monthly_budget"


def _common_metadata(run: ReviewRun, sent: Sent | None, title: str) -> dict:
    review = run.review
    return {
        "cold_start_requests": review.totals.cold_start_requests,
        "null_cost_requests": review.totals.null_cost_requests,
        "days_rolled_up_now": len(run.rolled_up_now),
        "recommendations": records_table(
            [recommendation_record(r) for r in review.recommendations], RECOMMENDATION_COLUMNS
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
