"""``top_cost_drivers`` and ``latency_percentiles``: the guide's "High Costs" and "Slow Responses" checks,
refreshed by the daily health check."""

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.costs.checks import band_check
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.metadata import RECOMMENDATION_COLUMNS, records_table
from vast_pipelines.policy.costs import CostTotals
from vast_pipelines.policy.periods import periods_at
from vast_pipelines.policy.troubleshooting import cost_driver_hints, latency_fixes, latency_verdict
from vast_pipelines.reports.costs import cost_drivers_report, latency_report
from vast_pipelines.reports.figures import SECOND_PLACES, dollars, guide_figures, rounded
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.resources.cost_history import latency_summary, save_report, top_cost_drivers
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings

GROUP = "troubleshooting"
LATENCY_BAND_CHECK = "latency_band"


def _keep_today(
    context: dg.AssetExecutionContext,
    database: AnalyticsDatabase,
    today: date,
    zone: str,
    totals: CostTotals,
    verdict: str,
    figures: dict,
    text: str,
) -> None:
    """Keep today's latest run of this asset in ``vast_pipelines.cost_reports``."""
    save_report(
        database,
        report=context.asset_key.to_user_string(),
        period_start=today,
        period_end=today + timedelta(days=1),
        timezone=zone,
        run_id=context.run.run_id,
        totals=totals,
        verdict=verdict,
        figures=figures,
        markdown=text,
    )


@dg.asset(name="top_cost_drivers", group_name=GROUP, kinds={"sql", "postgres"}, deps=[vast_ai_costs])
def top_cost_drivers_asset(
    context: dg.AssetExecutionContext, database: AnalyticsDatabase, settings: RunbookSettings
) -> dg.MaterializeResult:
    """The guide's "Top cost drivers today" (Symptom: High Costs): per model since local midnight,
    `model, requests, total_cost, avg_duration_sec`, most expensive first, with the warm/cold split and
    the common causes the figures point at."""
    tz, limits = settings.tz(), settings.limits()
    periods = periods_at(clock.now(), tz)
    drivers = top_cost_drivers(database, periods.today_start, periods.now)
    hints = cost_driver_hints(drivers, limits)
    today = periods.today_start.date()
    text = cost_drivers_report(drivers, hints, today, tz.key)
    costs = [d.total_cost for d in drivers if d.total_cost is not None]
    totals = CostTotals(requests=sum(d.requests for d in drivers), cost=sum(costs, Decimal(0)) if costs else None)
    figures = {"drivers": [dataclasses.asdict(d) for d in drivers], "hints": hints}
    _keep_today(context, database, today, tz.key, totals, f"{len(hints)} cause(s) indicated", figures, text)
    table = dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "model": d.model,
                    "requests": d.requests,
                    "total_cost": dollars(d.total_cost),
                    "avg_duration_sec": rounded(d.avg_duration_sec, SECOND_PLACES),
                    "cold_start_requests": d.cold_start_requests,
                    "warm_avg_duration_sec": rounded(d.warm_avg_duration_sec, SECOND_PLACES),
                    "cold_avg_duration_sec": rounded(d.cold_avg_duration_sec, SECOND_PLACES),
                }
            )
            for d in drivers
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("model", "string"),
                dg.TableColumn("requests", "int"),
                dg.TableColumn("total_cost", "float", description="USD today; empty when no request had a cost"),
                dg.TableColumn("avg_duration_sec", "float"),
                dg.TableColumn("cold_start_requests", "int"),
                dg.TableColumn("warm_avg_duration_sec", "float"),
                dg.TableColumn("cold_avg_duration_sec", "float"),
            ]
        ),
    )
    return dg.MaterializeResult(
        metadata={
            "drivers": table,
            "models": len(drivers),
            "requests": totals.requests,
            "report": dg.MetadataValue.md(as_markdown(text)),
        }
    )


@dg.asset(
    name="latency_percentiles",
    group_name=GROUP,
    kinds={"sql", "postgres"},
    deps=[vast_ai_costs],
    check_specs=[
        dg.AssetCheckSpec(
            LATENCY_BAND_CHECK,
            asset="latency_percentiles",
            description="Last 24 h latency in the guide's bands: warn when not good, fail at investigate.",
        )
    ],
)
def latency_percentiles_asset(
    context: dg.AssetExecutionContext, database: AnalyticsDatabase, settings: RunbookSettings
) -> dg.MaterializeResult:
    """The guide's "Latency percentiles" (Symptom: Slow Responses): `p50_sec, p95_sec, p99_sec,
    cold_start_rate` over the last 24 h, the same for warm and for cold-start requests, the guide's
    verdict (good / acceptable / investigate) and fixes (keep warm above a 0.2 cold-start rate; a faster
    GPU when warm requests alone are slow)."""
    tz, limits = settings.tz(), settings.limits()
    now = clock.now()
    summary = latency_summary(database, now - timedelta(hours=24), now)
    verdict = latency_verdict(summary.overall, limits)
    fixes = latency_fixes(summary, limits)
    text = latency_report(summary, verdict, fixes)
    today = now.astimezone(tz).date()
    figures = {"summary": dataclasses.asdict(summary), "fixes": [dataclasses.asdict(f) for f in fixes]}
    _keep_today(context, database, today, tz.key, CostTotals(requests=summary.requests), verdict.value, figures, text)
    p = summary.overall
    numbers = guide_figures(
        {
            key: value
            for key, value in (
                ("p50_sec", p.p50),
                ("p95_sec", p.p95),
                ("p99_sec", p.p99),
                ("cold_start_rate", summary.cold_start_rate),
                ("warm_p50_sec", summary.warm.p50),
                ("warm_p95_sec", summary.warm.p95),
                ("cold_p50_sec", summary.cold.p50),
                ("cold_p95_sec", summary.cold.p95),
            )
            if value is not None
        }
    )
    return dg.MaterializeResult(
        metadata={
            **numbers,
            "requests": summary.requests,
            "latency_verdict": verdict.value,
            "fixes": records_table([dataclasses.asdict(f) for f in fixes], RECOMMENDATION_COLUMNS),
            "report": dg.MetadataValue.md(as_markdown(text)),
        },
        check_results=[band_check(LATENCY_BAND_CHECK, verdict.value, good="good", bad="investigate", metadata=numbers)],
    )
