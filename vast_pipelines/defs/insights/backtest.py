"""Alert-rule backtest: when would the budget and runaway rules have fired over the last 90 days?"""

import dataclasses
from datetime import timedelta

import dagster as dg
from pydantic import Field

from vast_pipelines import clock
from vast_pipelines.defs.costs.history import load_history
from vast_pipelines.defs.costs.partitions import CostPartitions
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.periods import local_midnight
from vast_pipelines.policy.backtest import backtest, candidate_days
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.reports.insights import backtest_report
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings

BACKTEST_JOB = "alert_rule_backtest"
TUNED = ("alert_info", "alert_warning", "alert_critical", "alert_emergency", "runaway_daily", "hard_cap")


class BacktestConfig(dg.Config):
    """Which days to replay, and thresholds to try instead of the configured ones."""

    days: int | None = Field(default=None, description="Days replayed up to yesterday; unset: backtest_days (90).")
    thresholds: str | None = Field(
        default=None,
        description="Thresholds to try, as in VAST_PIPELINES_THRESHOLDS (e.g. alert_info=60,runaway_daily=40); "
        "they override the configured ones for this run only.",
    )


def build_backtest_job(partitions: CostPartitions) -> dg.JobDefinition:
    """The backtest job; it reads the cost history (rolling up missing days) of ``partitions``."""

    @dg.op(name="replay_alert_rules")
    def replay_alert_rules(
        context: dg.OpExecutionContext, config: BacktestConfig, database: AnalyticsDatabase, settings: RunbookSettings
    ) -> dg.Output[None]:
        """Replays whole days from the cost history, and the days a rule fires minute by minute from
        `vast_ai_costs`, through the budget levels and the runaway/hard-cap triggers."""
        tried = RunbookSettings(
            timezone=settings.timezone, thresholds=",".join(filter(None, [settings.thresholds, config.thresholds]))
        )
        tz, limits = zone_and_limits(tried)
        days = config.days or limits.backtest_days
        today = clock.now().astimezone(tz).date()
        first = today - timedelta(days=days)
        # Whole months from their 1st: month-to-date on the first replayed day needs the days before it.
        history, rolled = load_history(
            database, first.replace(day=1), today, partitions, context.run.run_id, context.log
        )
        totals: dict = {}
        for row in history.rows:
            totals[row.day] = totals.get(row.day, 0.0) + float(row.totals.cost or 0)
        daily = sorted(totals.items())
        intraday = {
            day: database.costs.minute_spend(local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz))
            for day in candidate_days(daily, limits)
        }
        day_end = {day: local_midnight(day + timedelta(days=1), tz) for day, _ in daily}
        start = local_midnight(first, tz)
        firings = [f for f in backtest(daily, intraday, day_end, limits) if f.at >= start]
        thresholds = {name: getattr(limits, name) for name in TUNED}
        report = backtest_report(firings, str(first), str(today - timedelta(days=1)), tz, thresholds)
        context.log.info("\n" + report)
        database.insights.save_backtest(
            run_id=context.run.run_id,
            first_day=first,
            end_day=today,
            thresholds=thresholds,
            firings=[dataclasses.asdict(f) for f in firings],
            report=report,
        )
        counts = {}
        for f in firings:
            counts[f.rule] = counts.get(f.rule, 0) + 1
        return dg.Output(
            None,
            metadata={
                "firings": len(firings),
                **{f"fired_{rule}": n for rule, n in sorted(counts.items())},
                "days_replayed": days,
                "days_rolled_up_now": len(rolled),
                "report": dg.MetadataValue.md(as_markdown(report)),
            },
        )

    @dg.job(
        name=BACKTEST_JOB,
        description="Replays the last 90 days of spend through the budget alert levels and the runaway/hard-cap "
        "rules and reports when each would have fired; config `thresholds` tries other values first.",
    )
    def alert_rule_backtest():
        replay_alert_rules()

    return alert_rule_backtest
