"""The morning health check's report, in the shape of the guide's script output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from vast_pipelines.domain.health import Failure
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.costs import DayCost
from vast_pipelines.policy.health import EndpointStatus
from vast_pipelines.policy.spend import (
    BudgetVerdict,
    DailyVerdict,
    Forecast,
    daily_verdict,
    day_verdict,
    forecast_budget_verdict,
    month_off_track,
)
from vast_pipelines.reports.figures import usd
from vast_pipelines.reports.verdicts import daily_verdict_text


@dataclass(frozen=True)
class VastSummary:
    """Vast.ai's view of the platform's endpoints, or why it could not be had."""

    available: bool
    lines: tuple[str, ...]


def status_label(status: EndpointStatus) -> str:
    """``ONLINE`` or ``OFFLINE`` as the guide's script prints it."""
    return "ONLINE" if status.online else "OFFLINE"


def offline_actions(status: EndpointStatus) -> tuple[str, ...]:
    """The guide's "Actions if OFFLINE", most specific first (none while it answers)."""
    if status.online:
        return ()
    if status.failure is Failure.DNS:
        return (
            "Host name does not resolve: this is not a cold start. Check Tailscale: "
            "`tailscale status | grep vastai` (expect `vastai-gpu ... active`); "
            "restart it if needed: `sudo tailscale down && sudo tailscale up`.",
            "Check worker status on the dashboard: https://cloud.vast.ai/serverless/",
        )
    actions = ["Check Tailscale: `tailscale status | grep vastai`"]
    actions.append("Check worker status on the dashboard: https://cloud.vast.ai/serverless/")
    if status.failure in (Failure.TIMEOUT, Failure.REFUSED):
        if status.cold_start_retried:
            actions.append("Still down after the cold-start wait and one retry: treat as truly down.")
        else:
            actions.append("If cold start: wait 30s and retry.")
    if status.failure in (Failure.HTTP_ERROR, Failure.BAD_RESPONSE):
        actions.append("The server answers but not correctly: check the worker logs on the Vast.ai dashboard.")
    actions.append(
        "If truly down: follow Troubleshooting › Endpoint Not Responding "
        "(`curl -I <endpoint>/health`, Tailscale, worker logs; restart or redeploy the worker)."
    )
    return tuple(actions)


def endpoint_lines(status: EndpointStatus) -> list[str]:
    """The guide's "vLLM Endpoint:" block: model ids when online, the actions when offline."""
    head = f"{status.name} Endpoint ({status.url}):"
    if status.online:
        latency = f" ({status.latency_ms:.0f} ms)" if status.latency_ms is not None else ""
        models = [f"  {m}" for m in status.models] or ["  (no models loaded)"]
        return [head, f"  ✅ ONLINE{latency}", *models]
    tries = cold_start_tries(status)
    reason = status.failure.value if status.failure else "unknown"
    lines = [head, f"  ❌ OFFLINE: {reason} {tries} ({status.detail})", "  Actions:"]
    return lines + [f"  • {a}" for a in offline_actions(status)]


# The guide: "if cold start: wait 30s and retry".
GUIDE_COLD_START_WAIT_SECONDS = 30.0


def cold_start_tries(status: EndpointStatus) -> str:
    """How the verdict was reached, saying so when the wait was shorter than the guide's (the demo's 1 s)."""
    if status.attempts < 2:
        return "on the first try"
    wait = status.wait_seconds
    if wait is None or wait == GUIDE_COLD_START_WAIT_SECONDS:
        return "after the guide's 30 s cold-start wait and one retry"
    shorter = " (shortened from the guide's 30 s)" if wait < GUIDE_COLD_START_WAIT_SECONDS else ""
    return f"after a {wait:g} s cold-start wait{shorter} and one retry"


def endpoints_section(
    statuses: list[EndpointStatus], tailscale_state: str, tailscale_detail: str, vast: VastSummary
) -> str:
    """Endpoints, Tailscale peer state and Vast.ai worker status."""
    lines: list[str] = []
    for status in statuses:
        lines += endpoint_lines(status)
    lines.append(f"Tailscale: {tailscale_state} ({tailscale_detail})")
    lines.append("Vast.ai serverless endpoints:" if vast.available else "Vast.ai serverless endpoints: not checked")
    lines += [f"  {line}" for line in vast.lines]
    return "\n".join(lines)


def spend_section(
    spend: SpendSummary,
    forecast: Forecast,
    now: datetime,
    tz: ZoneInfo,
    limits: Thresholds = GUIDE,
    stale: str | None = None,
) -> str:
    """The guide's "Yesterday's Spend" with the previous calendar day, month-to-date and forecast.

    ``stale`` ("unknown — cost data stale since …") replaces the verdict while agent-router is not logging.
    """
    verdict = daily_verdict(
        spend.rolling_24h_cost if spend.rolling_24h_has_cost else None,
        spend.rolling_24h_requests,
        limits,
        stale=stale is not None,
    )
    local = now.astimezone(tz)
    outlook = forecast_budget_verdict(forecast, limits) if spend.has_data else BudgetVerdict.NO_DATA
    day_text = daily_verdict_text(verdict)
    if month_off_track(verdict, outlook):
        day_text = (
            f"{day_text.split(' (')[0]} for the last 24 h, but the month is not on track: "
            f"forecast {usd(forecast.month_end)} is over the {usd(limits.budget_target)} target"
        )
    lines = [
        f"Yesterday's Spend: {spent(spend.rolling_24h_cost, spend.rolling_24h_has_cost)} "
        f"(last 24 h, {spend.rolling_24h_requests:,} requests)",
        f"  ❔ Budget verdict {stale}" if stale and verdict is DailyVerdict.UNKNOWN else f"  {day_text}",
        f"  Previous calendar day: {spent(spend.previous_day_cost, spend.previous_day_has_cost)} "
        f"({spend.previous_day_requests:,} requests)",
        f"  Today so far: {spent(spend.today_cost, spend.today_has_cost)} ({spend.today_requests:,} requests)",
        f"  Month-to-date ({local:%B %Y}): {spent(spend.month_to_date, spend.month_has_cost)} "
        f"({spend.month_requests:,} requests); budget target <{usd(limits.budget_target)}, "
        f"hard cap {usd(limits.hard_cap)}",
    ]
    if spend.has_data:
        cap = (
            f"hard cap {usd(limits.hard_cap)} reached on {forecast.hard_cap_date:%Y-%m-%d} at this rate"
            if forecast.hard_cap_date
            else f"hard cap {usd(limits.hard_cap)} not reached this month at this rate"
        )
        lines.append(
            f"  Forecast month end: {usd(forecast.month_end)} "
            f"(run rate of the last 7 complete days {usd(forecast.daily_run_rate)}/day); {cap}"
        )
    else:
        lines.append("  Forecast month end: unknown (no cost data to project from)")
    lines += [f"  ⚠️ {line}" for line in uncounted_lines(spend)]
    if spend.future_rows:
        lines.append(f"  ⚠️ {spend.future_rows:,} request(s) are timestamped in the future: not counted")
    if spend.latest_request is not None:
        lines.append(f"  Latest logged request: {spend.latest_request.astimezone(tz):%Y-%m-%d %H:%M %Z}")
    return "\n".join(lines)


def spent(cost: float, has_cost: bool) -> str:
    """A window's spend; a window whose requests carry no cost is "no data", never $0.00."""
    return usd(cost) if has_cost else "no data (no request with a cost)"


def uncounted_lines(spend: SpendSummary) -> list[str]:
    """What was logged but not counted as spend this month: NULL costs, costs that are not a finite number,
    and credits (negative costs, totalled apart, never subtracted)."""
    lines = []
    if spend.month_null_cost_rows:
        lines.append(f"{spend.month_null_cost_rows:,} request(s) this month have no cost (NULL): not counted")
    if spend.month_invalid_cost_rows:
        lines.append(
            f"{spend.month_invalid_cost_rows:,} request(s) this month have a cost that is not a finite number "
            "(NaN, Infinity or beyond ±$1e12): not counted; fix agent-router's cost logging"
        )
    if spend.month_negative_cost_rows:
        lines.append(
            f"{spend.month_negative_cost_rows:,} request(s) this month have a negative cost (credits, "
            f"{usd(spend.month_credit)} in total): not subtracted from spend"
        )
    return lines


_DAY_MARK = {
    DailyVerdict.EXCELLENT: "✅ excellent",
    DailyVerdict.MODERATE: "⚠️ moderate",
    DailyVerdict.HIGH: "❌ high",
    DailyVerdict.NO_DATA: "❔ no data",
    DailyVerdict.UNKNOWN: "❔ unknown (cost data stale)",
}


def month_so_far_section(days: list[DayCost], today: date, limits: Thresholds = GUIDE, stale: bool = False) -> str:
    """The guide's "Current month spend by day", newest first as its SQL orders it, today included, each day with
    the guide's verdict (``stale`` makes today's unknown)."""
    lines = [f"Month so far by day ({today:%B %Y}, today so far included):"]
    for day in sorted(days, key=lambda d: d.day, reverse=True):
        verdict = day_verdict(day, limits, stale=stale and day.day == today)
        cost = usd(float(day.totals.cost)) if day.has_data and day.totals.cost is not None else "no data"
        mark = _DAY_MARK[verdict] + (" so far" if day.day == today else "")
        lines.append(f"  {day.day:%Y-%m-%d %a}  {cost:>10}  {day.totals.requests:>8,} requests  {mark}")
    return "\n".join(lines)


def health_report(now: datetime, tz: ZoneInfo, source: str, endpoints_text: str | None, spend_text: str | None) -> str:
    """The whole morning report as plain text (also what goes to Slack)."""
    lines = [
        f"=== Vast.ai Health Check {now.astimezone(tz):%Y-%m-%d %H:%M %Z} ===",
        f"Source: {source}",
        endpoints_text or "Endpoints: not checked in this run",
        spend_text or "Spend: not checked in this run",
        "=== Health Check Complete ===",
    ]
    return "\n".join(lines)


def as_markdown(text: str) -> str:
    """Plain report text as Markdown that keeps its line breaks in the Dagster UI."""
    return "  \n".join(line.replace("  •", "&nbsp;&nbsp;•") for line in text.splitlines())
