"""Reconciliation with Vast.ai billing: what agent-router logged against what Vast.ai charged, per UTC day."""

from datetime import UTC, timedelta

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.insights.freshness import GROUP
from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.reconcile import reconcile_day
from vast_pipelines.reports.insights import reconciliation_report
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.vast import VastAIResource
from vast_pipelines.store.costs import LoggedDay

BILLING_MATCHES_LOG_CHECK = "billing_matches_log"


@dg.asset(
    group_name=GROUP,
    kinds={"sql", "postgres"},
    deps=[vast_ai_costs],
    check_specs=[
        dg.AssetCheckSpec(
            BILLING_MATCHES_LOG_CHECK,
            asset="billing_reconciliation",
            description="Every reconciled day's logged cost is within reconcile_share (10 %) of Vast.ai's bill "
            "(warns otherwise, and when the bill cannot be read).",
        )
    ],
)
def billing_reconciliation(
    context: dg.AssetExecutionContext, database: AnalyticsDatabase, vast: VastAIResource, settings: RunbookSettings
) -> dg.MaterializeResult:
    """Vast.ai's serverless charges per UTC day (`GET /api/v0/charges/`) against the day's sum of `vast_ai_costs`
    over the last reconcile_days (14) complete days: the difference (billed − logged) and its share of the bill.
    A large share means agent-router logs costs wrong or misses requests. Kept in
    `vast_pipelines.billing_reconciliation`."""
    limits = settings.limits()
    end = clock.now().astimezone(UTC).date()
    first = end - timedelta(days=limits.reconcile_days)
    logged = database.costs.logged_by_utc_day(first, end)
    note = ""
    try:
        billed: dict | None = vast.daily_charges(first, end)
    except OperatorError as exc:
        billed, note = None, f" — billing unknown: {exc}"
    days = []
    for offset in range((end - first).days):
        day = first + timedelta(days=offset)
        log = logged.get(day, LoggedDay(None, 0, 0))
        bill = billed.get(day, 0.0) if billed is not None else None
        result = reconcile_day(day, log.logged or 0.0, bill, limits.reconcile_share, limits.reconcile_min_billed)
        days.append((result, log))
    database.insights.save_reconciliation(days, context.run.run_id)
    results = [r for r, _ in days]
    diverged = [r for r in results if r.diverged]
    text = reconciliation_report(results, limits.reconcile_share, note)
    try:
        credit: float | None = vast.account_credit().credit
        text += f"\n\nVast.ai account credit now: ${credit:,.2f} (`GET /api/v0/users/current`)."
    except OperatorError as exc:
        credit = None
        text += f"\n\nVast.ai account credit unknown: {exc}"
    shares = [abs(r.share) for r in results if r.share is not None]
    money = (
        {"billed_usd": sum(r.billed or 0.0 for r in results), "logged_usd": sum(r.logged for r in results)}
        if billed is not None
        else {}
    )
    return dg.MaterializeResult(
        metadata={
            **money,
            **({"account_credit_usd": credit} if credit is not None else {}),
            "diverged_days": len(diverged),
            **({"max_share": max(shares)} if shares else {}),
            "report": dg.MetadataValue.md(text),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=BILLING_MATCHES_LOG_CHECK,
                passed=billed is not None and not diverged,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "diverged_days": ", ".join(str(r.day) for r in diverged) or "none",
                    "billing": "read" if billed is not None else note.removeprefix(" — "),
                },
            )
        ],
    )
