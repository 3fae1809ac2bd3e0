"""Text of the insights: stale cost data, cost anomalies, reconciliation, backtest, the week's summary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vast_pipelines.domain.insights import DayReconciliation, Freshness
from vast_pipelines.policy.anomalies import Driver, ModelAnomaly
from vast_pipelines.policy.backtest import Firing
from vast_pipelines.reports.alerts import Message
from vast_pipelines.reports.figures import usd


def _at(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M %Z}"


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _ago(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def freshness_reason(freshness: Freshness) -> str:
    """Why cost data is judged stale or fresh, with its figures."""
    if freshness.since is None or freshness.gap is None:
        return "vast_ai_costs has no rows at all: is agent-router writing costs?"
    if freshness.expected is None:
        return f"last request {_ago(freshness.gap)} ago"
    if not freshness.stale:
        return f"last request {_ago(freshness.gap)} ago; the same hours of past weeks were quiet too"
    return (
        f"no request logged for {_ago(freshness.gap)} while the same hours of past weeks had "
        f"~{freshness.expected:.0f} requests"
    )


def freshness_record(freshness: Freshness) -> dict[str, Any]:
    """The judgement as an episode keeps it: stale, since, and the reason in words."""
    return {"stale": freshness.stale, "since": freshness.since, "reason": freshness_reason(freshness)}


def stale_text(freshness: Freshness, tz: ZoneInfo) -> str:
    """The verdict that replaces every budget verdict while cost data is stale."""
    if freshness.since is None:
        return f"unknown — no cost data at all ({freshness_reason(freshness)})"
    return f"unknown — cost data stale since {_at(freshness.since, tz)} ({freshness_reason(freshness)})"


def freshness_report(freshness: Freshness, now: datetime, tz: ZoneInfo, source: str) -> str:
    """The freshness check as an operator reads it."""
    state = "STALE" if freshness.stale else "fresh"
    latest = _at(freshness.since, tz) if freshness.since else "never"
    lines = [
        f"Cost data ({source}) at {_at(now, tz)}: {state}",
        f"  Latest logged request: {latest}; {freshness_reason(freshness)}",
    ]
    if freshness.stale:
        lines.append(f"  Budget verdicts and the daily report say: {stale_text(freshness, tz)}")
    return "\n".join(lines)


def freshness_alert(freshness: Freshness, tz: ZoneInfo, source: str) -> Message:
    """The one alert of a stale episode."""
    text = "\n".join(
        [
            f":grey_question: *Vast.ai cost data is stale*: {stale_text(freshness, tz)}",
            "• Budget alerts and the daily report cannot say the budget is on track until rows arrive again.",
            "• Check agent-router: is it running, and can it write to vast_ai_costs (TIMESCALE_URL)?",
            f"Source: {source}",
        ]
    )
    since = _at(freshness.since, tz) if freshness.since else "the start"
    return Message(f"[vast_pipelines] Vast.ai cost data stale since {since}", text)


def freshness_recovered(opened_at: datetime, now: datetime, tz: ZoneInfo) -> str:
    """The note that a stale episode ended."""
    return (
        f":white_check_mark: Vast.ai cost data is logged again (stale since the episode opened "
        f"{_at(opened_at, tz)}; over at {_at(now, tz)})."
    )


def anomaly_line(a: ModelAnomaly) -> str:
    """One flagged (or judged) model and window."""
    an = a.anomaly
    if an.baseline is None:
        return (
            f"{a.model} ({a.scope}): {usd(a.cost)}, {a.requests:,} requests — "
            f"needs {an.needed} comparable periods, has {an.compared}"
        )
    score = f"{an.score:.1f}" if an.score is not None else "n/a"
    flag = f" — ANOMALY, {an.driver}" if an.flagged else ""
    return (
        f"{a.model} ({a.scope}): {usd(a.cost)} over {a.requests:,} requests against a median of "
        f"{usd(an.baseline)} (score {score}){flag}"
    )


def anomalies_report(judged: Sequence[ModelAnomaly], now: datetime, tz: ZoneInfo, weeks: int) -> str:
    """Every model's today and this hour against the same weekday/hour of past weeks."""
    flagged = [a for a in judged if a.anomaly.flagged]
    lines = [
        f"Cost anomalies at {_at(now, tz)} (against the same weekday and hour of the previous {weeks} weeks): "
        f"{len(flagged)} flagged"
    ]
    lines += [f"  • {anomaly_line(a)}" for a in judged] or ["  No spend logged today."]
    return "\n".join(lines)


def anomaly_alert(a: ModelAnomaly, now: datetime, tz: ZoneInfo, source: str) -> Message:
    """The one alert of an anomaly episode."""
    an = a.anomaly
    past = ", ".join(usd(c) for c in a.cost_history)
    what = (
        "More requests than usual: check the callers of this model (a loop, a new client, a batch job)."
        if an.driver is Driver.REQUESTS
        else "Each request costs more: look for cold starts, longer outputs or a larger model/GPU "
        "(the guide's High Costs checks)."
    )
    text = "\n".join(
        [
            f":mag: *Cost anomaly* {a.model}, {a.scope} ({_at(now, tz)}): {usd(a.cost)} over {a.requests:,} requests, "
            f"usually {usd(an.baseline)} (same weekday/hour of past weeks: {past}); driver: *{an.driver}*",
            f"• {what}",
            f"Source: {source}",
        ]
    )
    return Message(f"[vast_pipelines] Cost anomaly: {a.model} {a.scope} {usd(a.cost)} ({an.driver})", text)


def reconciliation_report(days: Sequence[DayReconciliation], tolerance: float, note: str = "") -> str:
    """Logged against billed per UTC day, with the difference and its share of the bill."""
    lines = [
        f"Vast.ai billing against vast_ai_costs per UTC day (warn above {tolerance:.0%} of the bill){note}",
        "| day | logged | billed | difference | share | |",
        "|---|---|---|---|---|---|",
    ]
    for d in days:
        flag = "⚠️ diverged" if d.diverged else ""
        difference = usd(d.difference) if d.difference is not None else "unknown"
        lines.append(f"| {d.day} | {usd(d.logged)} | {usd(d.billed)} | {difference} | {_pct(d.share)} | {flag} |")
    return "\n".join(lines)


def backtest_report(firings: Sequence[Firing], first: str, end: str, tz: ZoneInfo, thresholds: dict[str, float]) -> str:
    """When each rule would have fired over the replayed days."""
    rules = ", ".join(f"{k}={v:g}" for k, v in thresholds.items())
    lines = [f"Alert-rule backtest {first} to {end} ({tz.key}): {len(firings)} firing(s) with {rules}"]
    if not firings:
        lines.append("  No rule would have fired.")
    for f in firings:
        lines.append(f"  • {_at(f.at, tz)} {f.rule}: {usd(f.spend)} against {usd(f.threshold)} ({f.key})")
    return "\n".join(lines)


def weekly_insights_section(
    episodes: Sequence[dict[str, Any]],
    reconciliation: Sequence[dict[str, Any]],
    recommendations: Sequence[tuple[str, str]],
    tz: ZoneInfo,
) -> str:
    """The week's insights for the weekly review: stale data, anomalies, billing gaps, idle-timeout advice."""
    lines = ["Beyond the runbook:"]
    stale = [e for e in episodes if e["kind"] == "stale_cost_data"]
    anomalies = [e for e in episodes if e["kind"] == "cost_anomaly"]
    lines += [f"  • Cost data stale from {_at(e['opened_at'], tz)}: {e['summary']}" for e in stale] or [
        "  • Cost data: no stale episode this week"
    ]
    lines += [f"  • Anomaly {_at(e['opened_at'], tz)}: {e['summary']}" for e in anomalies] or [
        "  • Cost anomalies: none flagged this week"
    ]
    diverged = [r for r in reconciliation if r["diverged"]]
    if not reconciliation:
        lines.append("  • Vast.ai billing: not reconciled for these days (billing_reconciliation not run)")
    for r in diverged:
        share = f" ({float(r['share']):.0%} of the bill)" if r["share"] is not None else ""
        logged = float(r["logged"]) if r["logged"] is not None else None
        billed = float(r["billed"]) if r["billed"] is not None else None
        lines.append(
            f"  • Vast.ai billed {usd(billed)} on {r['day']}, logged {usd(logged)}{share}: "
            "check agent-router's cost logging"
        )
    if reconciliation and not diverged:
        lines.append(f"  • Vast.ai billing matches the log on the {len(reconciliation)} reconciled day(s)")
    lines += [f"  • Idle timeout, {model}: {text}" for model, text in recommendations]
    return "\n".join(lines)
