"""What operators read about costs: the daily history, the weekly and monthly reviews, the troubleshooting
queries. Plain text with fenced tables, which reads the same in Slack and in the Dagster UI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tabulate import tabulate

from vast_pipelines.domain.costs import CostDriver, CostTotals, LatencySummary, Percentiles
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.costs import DayCost
from vast_pipelines.policy.recommendations import Recommendation
from vast_pipelines.policy.reviews import Review
from vast_pipelines.policy.spend import daily_verdict
from vast_pipelines.policy.troubleshooting import CostHint, HintKind, LatencyVerdict
from vast_pipelines.policy.update_worker import update_worker_run_config
from vast_pipelines.policy.worker_settings import WorkerSettings
from vast_pipelines.reports.concerns import concern_lines
from vast_pipelines.reports.deploy import run_config_yaml
from vast_pipelines.reports.figures import money, round_money, usd
from vast_pipelines.reports.recommendations import recommendation_line
from vast_pipelines.reports.verdicts import budget_verdict_text, daily_verdict_text, latency_verdict_text

NO_DATA = "no data"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _fenced(rows: list[list[object]], headers: list[str]) -> str:
    align = ["left"] + ["right"] * (len(headers) - 1)
    return "```\n" + tabulate(rows, headers=headers, disable_numparse=True, colalign=align) + "\n```"


def guide_day_row(day: DayCost) -> dict[str, object]:
    """The guide's columns for one day (``day, daily_cost, requests, cost_per_request``), unrounded."""
    return {
        "day": day.day,
        "daily_cost": day.totals.cost if day.has_data else None,
        "requests": day.totals.requests,
        "cost_per_request": day.totals.cost_per_request,
        "rolled_up": day.rolled_up,
    }


def day_table(days: list[DayCost]) -> str:
    """The Weekly Review's table: newest first, as the guide orders it; empty days say "no data"."""
    rows = []
    for d in sorted(days, key=lambda d: d.day, reverse=True):
        status = "" if d.rolled_up else " (not rolled up)"
        if d.has_data:
            rows.append(
                [f"{d.day:%Y-%m-%d %a}", money(d.totals.cost), f"{d.totals.requests:,}", _per_request(d.totals)]
            )
        else:
            rows.append([f"{d.day:%Y-%m-%d %a}", NO_DATA + status, f"{d.totals.requests:,}", "–"])
    return _fenced(rows, ["day", "daily_cost", "requests", "cost_per_request"])


def _per_request(totals: CostTotals) -> str:
    value = totals.cost_per_request
    return "–" if value is None else f"${round_money(value, 5):,.5f}"


def model_table(review: Review) -> str:
    """Per model: requests, cost, share of the period, cost per request and cold-start economics."""
    total = review.totals.cost or Decimal(0)
    economics = {c.model: c for c in review.cold_starts}
    rows = []
    for m in review.models:
        c = economics[m.model]
        share = float(m.totals.cost / total) if m.totals.cost is not None and total else None
        rows.append(
            [
                m.model,
                f"{m.totals.requests:,}",
                money(m.totals.cost),
                _percent(share),
                _per_request(m.totals),
                _percent(c.cold_start_rate),
                _percent(c.cold_cost_share),
                _percent(c.cold_duration_share),
                money(c.overhead_usd),
            ]
        )
    headers = ["model", "requests", "cost", "share", "per request", "cold", "cold cost", "cold time", "cold extra"]
    return _fenced(rows, headers)


def _comparison(current: CostTotals, previous: CostTotals | None, what: str) -> str | None:
    if previous is None or not previous.has_cost or not current.has_cost:
        return None
    before, now = previous.cost or Decimal(0), current.cost or Decimal(0)
    change = f"{float((now - before) / before):+.0%}" if before else "new spend"
    return f"vs the {what}: {money(before)} ({change})"


def _headline(totals: CostTotals) -> str:
    if not totals.has_cost:
        return f"Spend: {NO_DATA} ({totals.requests:,} requests logged)"
    return (
        f"Spend: {money(totals.cost)} over {totals.requests:,} requests "
        f"({_per_request(totals)}/request); cold starts {totals.cold_start_requests:,} "
        f"({_percent(totals.cold_start_rate)})"
    )


def weekly_report(review: Review, zone: str, source: str, limits: Thresholds = GUIDE) -> str:
    """The Weekly Review's summary for #platform-updates."""
    lines = [
        f"*Weekly cost review: {review.first:%a %d %b} – {review.last:%a %d %b %Y}* ({zone})",
        _headline(review.totals),
    ]
    comparison = _comparison(review.totals, review.previous, "previous week")
    if comparison:
        lines.append(comparison)
    lines.append(day_table(review.days))
    if review.forecast is not None:
        f = review.forecast
        if review.hard_cap_reached_on:
            cap = f"the {usd(limits.hard_cap)} hard cap was reached on {review.hard_cap_reached_on:%Y-%m-%d}"
        elif f.hard_cap_date:
            cap = f"the {usd(limits.hard_cap)} hard cap is hit on {f.hard_cap_date:%Y-%m-%d}"
        else:
            cap = f"the {usd(limits.hard_cap)} hard cap is not reached this month"
        lines.append(
            f"Forecast for {review.end:%B %Y} as of the week's end: {usd(f.month_end)} "
            f"(month-to-date {usd(f.month_to_date)} + {usd(f.daily_run_rate)}/day × {_days(f.days_left)}); {cap}"
        )
    else:
        lines.append("Forecast: unknown (no cost logged this week to project from)")
    if review.models:
        lines += [
            "Per model (cold = share of requests, cold cost/time = share spent in cold starts):",
            model_table(review),
        ]
    lines += _section("Concerns", [f"⚠️ {c}" for c in concern_lines(review)], "none")
    lines += _section("Optimization opportunities", [recommendation_line(r) for r in review.recommendations], "none")
    lines.append(f"Source: {source}, via vast_pipelines.daily_cost_history")
    return "\n".join(lines)


def monthly_report(review: Review, zone: str, source: str, limits: Thresholds = GUIDE) -> str:
    """The Monthly Review: total spend, budget verdict, per-model breakdown and, if over budget, the plan."""
    totals = review.totals
    lines = [f"*Monthly cost review: {review.first:%B %Y}* ({zone})"]
    if totals.has_cost:
        lines.append(
            f"monthly_cost {money(totals.cost)}, total_requests {totals.requests:,}, "
            f"avg_cost_per_request {_per_request(totals)}"
        )
    else:
        lines.append(f"monthly_cost: {NO_DATA} (total_requests {totals.requests:,})")
    assert review.budget is not None
    lines.append(budget_verdict_text(review.budget, limits))
    comparison = _comparison(totals, review.previous, "previous month")
    if comparison:
        lines.append(comparison)
    if review.target_reached_on:
        lines.append(f"Spend reached the {usd(limits.budget_target)} target on {review.target_reached_on:%Y-%m-%d}")
    if review.models:
        lines += [
            "Per model (cold = share of requests, cold cost/time = share spent in cold starts):",
            model_table(review),
        ]
    lines += _section("Concerns", [f"⚠️ {c}" for c in concern_lines(review)], "none")
    if review.recommendations:
        lines.append("Optimization plan (each alone; savings do not add up):")
        lines += [recommendation_line(r) for r in review.recommendations]
    lines.append(f"Source: {source}, via vast_pipelines.daily_cost_history")
    return "\n".join(lines)


def _section(title: str, items: list[str], empty: str) -> list[str]:
    return [f"{title}:", *items] if items else [f"{title}: {empty}"]


def history_day_report(day: date, totals: CostTotals, models: list, zone: str, limits: Thresholds = GUIDE) -> str:
    """One day of the cost history: the guide's daily figures and verdict, per model."""
    verdict = daily_verdict(float(totals.cost) if totals.cost is not None else None, totals.requests, limits)
    lines = [f"Cost history {day:%Y-%m-%d %a} ({zone})", _headline(totals), daily_verdict_text(verdict)]
    if totals.null_cost_requests:
        lines.append(f"⚠️ {totals.null_cost_requests:,} request(s) without a cost (NULL): not counted as money")
    if totals.invalid_cost_requests:
        lines.append(
            f"⚠️ {totals.invalid_cost_requests:,} request(s) with a cost that is not a finite number "
            "(NaN, Infinity or beyond ±$1e12): not counted as money"
        )
    if totals.negative_cost_requests:
        credit = f" ({float(totals.credit_cost):,.2f} USD in total)" if totals.credit_cost is not None else ""
        lines.append(f"⚠️ {totals.negative_cost_requests:,} request(s) with a negative cost{credit}: not subtracted")
    if models:
        rows = [
            [m.model, f"{m.totals.requests:,}", money(m.totals.cost), _percent(m.totals.cold_start_rate)]
            for m in models
        ]
        lines.append(_fenced(rows, ["model", "requests", "cost", "cold starts"]))
    return "\n".join(lines)


def hint_text(h: CostHint) -> str:
    """One of the guide's "Common Causes & Fixes" for one model, with its figure."""
    if h.kind is HintKind.MANY_COLD_STARTS:
        minutes = (h.idle_timeout or 0) / 60
        return f"{h.model}: many cold starts ({h.rate:.0%}): increase idle timeout from 5 min to {minutes:.0f} min"
    if h.kind is HintKind.LARGE_MODEL:
        return f"{h.model}: large model running: route simpler queries to a 7B model"
    return (
        f"{h.model} alone has cost {h.cost:,.2f} USD today: "
        "implement batching; if workers do not scale down, reduce the idle timeout or look for stuck requests"
    )


def cost_drivers_report(drivers: list[CostDriver], hints: list[CostHint], day: date, zone: str) -> str:
    """The guide's "Top cost drivers today" with the warm/cold split and the causes it points at."""
    lines = [f"Top cost drivers today ({day:%Y-%m-%d}, {zone})"]
    if not drivers:
        lines.append(f"{NO_DATA}: no requests logged today")
        return "\n".join(lines)
    rows = [
        [
            d.model,
            f"{d.requests:,}",
            money(d.total_cost),
            _seconds(d.avg_duration_sec),
            f"{d.cold_start_requests:,}",
            _seconds(d.warm_avg_duration_sec),
            _seconds(d.cold_avg_duration_sec),
        ]
        for d in drivers
    ]
    lines.append(
        _fenced(rows, ["model", "requests", "total_cost", "avg_duration_sec", "cold", "warm avg s", "cold avg s"])
    )
    lines += _section("Common causes", [f"• {hint_text(h)}" for h in hints], "none indicated")
    return "\n".join(lines)


def latency_report(summary: LatencySummary, verdict: LatencyVerdict, fixes: list[Recommendation]) -> str:
    """The guide's latency percentiles over the last 24 h, warm and cold apart, with verdict and fixes."""

    def row(name: str, p: Percentiles) -> list[str]:
        return [name, _seconds(p.p50), _seconds(p.p95), _seconds(p.p99)]

    lines = [
        f"Latency, last 24 h: {summary.requests:,} requests, cold_start_rate "
        f"{'–' if summary.cold_start_rate is None else f'{summary.cold_start_rate:.2f}'}",
        latency_verdict_text(verdict),
        _fenced(
            [row("all", summary.overall), row("warm", summary.warm), row("cold start", summary.cold)],
            ["requests", "p50_sec", "p95_sec", "p99_sec"],
        ),
    ]
    lines += _section("Fixes", [recommendation_line(f) for f in fixes], "none needed")
    return "\n".join(lines)


def ready_fixes_text(fixes: list[tuple[str, WorkerSettings]]) -> str:
    """The fixes as ``update_worker`` run configs (YAML) for Slack."""
    blocks = [f"```\n{run_config_yaml(update_worker_run_config(e, c))}```" for e, c in fixes]
    return "\n".join(["Ready fixes (launch update_worker with this config):", *blocks])


def _days(count: float) -> str:
    """``1 day``, ``3 days``: the forecast's days left, whole."""
    shown = f"{count:.0f}"
    return f"{shown} day" if shown == "1" else f"{shown} days"
