"""Budget alert messages: the figures, the guide's meaning of the level, and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.alerts import AlertLevel, BudgetDecision, level_thresholds
from vast_pipelines.policy.spend import Forecast
from vast_pipelines.reports.figures import usd
from vast_pipelines.reports.health import uncounted_lines
from vast_pipelines.reports.verdicts import MEANING

ICON = {
    AlertLevel.INFO: ":information_source:",
    AlertLevel.WARNING: ":warning:",
    AlertLevel.CRITICAL: ":red_circle:",
    AlertLevel.EMERGENCY: ":rotating_light:",
}

# The guide's "Symptom: High Costs" fixes: what "optimize now" means.
OPTIMIZE = (
    "Many cold starts: increase the idle timeout from 5 to 10 min (the `update_worker` job).",
    "Large model running: route simpler queries to the 7B model instead of the 70B.",
    "No batching: implement batching (about 80 % savings); add caching (about 50 %).",
    "Worker not scaling down: reduce the idle timeout or look for stuck requests.",
)


@dataclass(frozen=True)
class Message:
    """A Slack text and the email subject that goes with it."""

    subject: str
    text: str


def level_actions(level: AlertLevel, apply_actions: bool, limits: Thresholds = GUIDE) -> tuple[str, ...]:
    """What the guide asks an operator to do at ``level``."""
    if level is AlertLevel.INFO:
        return (f"On track: nothing to do. The budget target is <{usd(limits.budget_target)}/month.",)
    if level is AlertLevel.WARNING:
        return (
            "Review usage: run the guide's High Costs quick check (today's top cost drivers by model: requests, "
            "total_cost, avg_duration_sec) and the last 7 days' daily costs.",
            f"Budget target <{usd(limits.budget_target)}/month; {usd(limits.budget_alert)} is over budget.",
        )
    if level is AlertLevel.CRITICAL:
        return ("Optimize now:", *OPTIMIZE)
    mode = (
        "VAST_EMERGENCY_ACTIONS=apply: it acts by itself."
        if apply_actions
        else "VAST_EMERGENCY_ACTIONS=dry-run: it only reports, so do these steps by hand now."
    )
    return (
        f"Hard cap {usd(limits.hard_cap)}: fall back to CPU. `runaway_cost_sensor` starts `emergency_shutdown` "
        "(stop the platform's Vast.ai endpoints, set USE_VASTAI=false in agent-router's .env, restart "
        f"agent-router); {mode}",
        "Then investigate the root cause (stuck requests, request patterns) before `restore_service`.",
    )


def figures_lines(
    spend: SpendSummary, forecast: Forecast, now: datetime, tz: ZoneInfo, limits: Thresholds
) -> list[str]:
    """Month-to-date, today, forecast and budget lines shared by every budget message."""
    cap = (
        f"hard cap {usd(limits.hard_cap)} reached on {forecast.hard_cap_date:%Y-%m-%d} at this rate"
        if forecast.hard_cap_date
        else f"hard cap {usd(limits.hard_cap)} not reached this month at this rate"
    )
    lines = [
        f"• Month-to-date ({now.astimezone(tz):%B %Y}): {usd(spend.month_to_date)} over "
        f"{spend.month_requests:,} requests; today so far {usd(spend.today_cost)}",
        f"• Forecast month end: {usd(forecast.month_end)} at the run rate of the last 7 complete days, "
        f"{usd(forecast.daily_run_rate)}/day; {cap}",
        f"• Budget: target <{usd(limits.budget_target)}, alert {usd(limits.budget_alert)}, "
        f"hard cap {usd(limits.hard_cap)}",
    ]
    return lines + [f"• {line}" for line in uncounted_lines(spend)]


def budget_alert(
    level: AlertLevel,
    spend: SpendSummary,
    forecast: Forecast,
    *,
    now: datetime,
    tz: ZoneInfo,
    mention: str,
    apply_actions: bool,
    source: str,
    limits: Thresholds = GUIDE,
    stale: str | None = None,
) -> Message:
    """The one message for ``level`` this month (a jump over several levels sends only the highest).

    ``stale`` ("unknown — cost data stale since …"): spend is a lower bound, so the level is certainly
    crossed, but nothing may be called "on track".
    """
    threshold = dict(level_thresholds(limits))[level]
    name = level.value.upper()
    tag = f"{mention} " if level in (AlertLevel.CRITICAL, AlertLevel.EMERGENCY) else ""
    head = (
        f"{ICON[level]} {tag}*Vast.ai budget {name}*: month-to-date spend {usd(spend.month_to_date)} "
        f"crossed {usd(threshold)} ({stale if stale and level is AlertLevel.INFO else MEANING[level]})"
    )
    actions = level_actions(level, apply_actions, limits)
    if stale:
        actions = (f"Budget verdict {stale}: the spend above may miss requests.", *actions[level is AlertLevel.INFO :])
    lines = [head, *figures_lines(spend, forecast, now, tz, limits)]
    lines += ["What to do:", *(f"• {a}" for a in actions), f"Source: {source}"]
    subject = (
        f"[vast_pipelines] Vast.ai budget {name}: {usd(spend.month_to_date)} month-to-date crossed {usd(threshold)}"
    )
    return Message(subject, "\n".join(lines))


def uncounted_costs_alert(spend: SpendSummary, *, now: datetime, tz: ZoneInfo, source: str) -> Message:
    """Today's requests logged without a cost that is money: spend the budget and runaway checks cannot see."""
    head = (
        f":warning: *Vast.ai cost data*: {spend.today_uncounted_rows:,} of today's {spend.today_requests:,} "
        f"requests ({now.astimezone(tz):%Y-%m-%d}) carry no usable cost: {spend.today_null_cost_rows:,} NULL, "
        f"{spend.today_invalid_cost_rows:,} not a finite number (NaN, Infinity or beyond ±$1e12)"
    )
    lines = [
        head,
        f"• Counted today: {usd(spend.today_cost)}; these requests are not in it, so the runaway and budget "
        "checks cannot see what they cost.",
        "What to do:",
        "• Check agent-router's cost logging (the cost it writes for each request) and fix the rows in "
        "vast_ai_costs; then re-materialize daily_cost_history for the day.",
        f"Source: {source}",
    ]
    subject = f"[vast_pipelines] Vast.ai cost data: {spend.today_uncounted_rows:,} request(s) today without a cost"
    return Message(subject, "\n".join(lines))


def forecast_alert(
    spend: SpendSummary,
    forecast: Forecast,
    *,
    now: datetime,
    tz: ZoneInfo,
    mention: str,
    source: str,
    limits: Thresholds = GUIDE,
) -> Message:
    """The warning ahead: at the current run rate the hard cap is reached before the month ends."""
    when = f"{forecast.hard_cap_date:%Y-%m-%d}" if forecast.hard_cap_date else "before month end"
    head = (
        f":chart_with_upwards_trend: {mention} *Vast.ai budget forecast*: at the run rate of the last 7 complete days, "
        f"{usd(forecast.daily_run_rate)}/day the hard cap {usd(limits.hard_cap)} is reached on {when}, "
        f"before month end (forecast {usd(forecast.month_end)})"
    )
    lines = [
        head,
        *figures_lines(spend, forecast, now, tz, limits),
        "What to do before the cap stops the platform:",
        *(f"• {a}" for a in OPTIMIZE),
        f"Source: {source}",
    ]
    subject = f"[vast_pipelines] Vast.ai forecast: hard cap {usd(limits.hard_cap)} reached on {when}"
    return Message(subject, "\n".join(lines))


def budget_status(
    decision: BudgetDecision,
    spend: SpendSummary,
    ahead: tuple[AlertLevel, float] | None,
    stale: str | None = None,
) -> str:
    """The budget tick's one-line summary in the UI (``ahead``: the next level and its threshold); no logged
    requests is said as such, never as $0.00, and stale cost data makes the verdict unknown."""
    if stale:
        crossed = ", ".join(level.value for level in decision.crossed) or "none"
        return (
            f"Budget verdict {stale}. Month-to-date so far {usd(spend.month_to_date)} (may miss requests); "
            f"levels crossed: {crossed}."
        )
    if spend.month_requests == 0:
        return "No cost rows logged this month: nothing to compare with the budget (is agent-router logging?)."
    if not spend.month_has_cost:
        return (
            f"No data: none of this month's {spend.month_requests:,} logged requests carries a cost "
            "(NULL or not a finite number): nothing to compare with the budget (is agent-router logging costs?)."
        )
    upcoming = f"next: {ahead[0].value} at {usd(ahead[1])}" if ahead else "every level crossed"
    crossed = ", ".join(level.value for level in decision.crossed) or "none"
    forecast = "; forecast reaches the hard cap this month" if decision.forecast_warning else ""
    uncounted = "".join(f" {line}." for line in uncounted_lines(spend))
    return f"Month-to-date {usd(spend.month_to_date)}; levels crossed: {crossed}; {upcoming}{forecast}.{uncounted}"


def delivery_line(
    transport: str, destination: str, status: str, error: str | None, *, spooled: bool, kept: bool
) -> str:
    """How one copy of an alert went: delivered, kept in the outbox for a retry, kept in the spool, or lost."""
    where = destination if transport == "slack" else f"email {destination}"
    note = f" ({error})" if error else ""
    if spooled:
        how = " directly (the outbox could not be written; kept for it until the database is back)"
    elif not kept:
        how = " directly; NOT kept anywhere (the outbox and the spool could not be written): tell on-call by hand"
    elif status in ("delivered", "duplicate", "demo"):
        how = ""
    else:
        how = ", kept in the outbox for retry"
    return f"{where}: {status}{how}{note}"
