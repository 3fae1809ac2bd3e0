"""What the emergency shutdown and the restore tell on-call: each step, what failed, what is next."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from vast_pipelines.domain.emergency import StepResult, failed
from vast_pipelines.domain.insights import Freshness
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.policy.emergency import Exceeded, Reason
from vast_pipelines.reports.alerts import Message
from vast_pipelines.reports.emergency_steps import NOTIFY_STEP
from vast_pipelines.reports.figures import usd
from vast_pipelines.reports.health import spent, uncounted_lines
from vast_pipelines.reports.insights import stale_text


def describe_reason(reason: Reason, spend: float | None, threshold: float | None) -> str:
    """The reason in the guide's words with its figures."""
    if reason is Reason.RUNAWAY:
        return f"Runaway costs: {usd(spend)} spent today, over the {usd(threshold)}/day limit"
    if reason is Reason.HARD_CAP:
        return f"Hard cap: {usd(spend)} spent this month, at or over the {usd(threshold)}/month cap"
    return "Emergency shutdown launched by an operator"


def reason_line(exceeded: Exceeded) -> str:
    """One line an operator reads in the run's tags and messages."""
    return describe_reason(exceeded.reason, exceeded.spend, exceeded.threshold)


def spend_line(today: float, month_to_date: float) -> str:
    """Today's and the month's spend, as the emergency notice says them."""
    return f"today {usd(today)}, month-to-date {usd(month_to_date)}"


def stood_down_text(summary: str, spend: SpendSummary, limits: Thresholds) -> str:
    """The re-check found the spend no longer over: nothing is changed."""
    return (
        f"Stood down: the spend no longer exceeds ({summary}); nothing was stopped or switched. "
        f"Today {usd(spend.today_cost)} (limit {usd(limits.runaway_daily)}/day), month-to-date "
        f"{usd(spend.month_to_date)} (hard cap {usd(limits.hard_cap)})."
    )


def restore_refused_text(holding: tuple[str, ...]) -> str:
    """Why the way back is refused while a spend reason holds, and how to go on."""
    return (
        f"Restore refused: {'; '.join(holding)}. Wait until it no longer holds (a new day for "
        "runaway costs, a new month for the hard cap), or launch restore_service with config force: true."
    )


def runaway_status(spend: SpendSummary, limits: Thresholds, freshness: Freshness, tz: ZoneInfo) -> str:
    """What the runaway tick saw: today and the month against their limits, what was not counted, stale data."""
    status = (
        f"Today {spent(spend.today_cost, spend.today_has_cost)} ({spend.today_requests:,} requests; runaway over "
        f"{usd(limits.runaway_daily)}/day), month-to-date {spent(spend.month_to_date, spend.month_has_cost)} "
        f"(hard cap {usd(limits.hard_cap)})"
    )
    if spend.today_requests == 0:
        status += "; no cost rows logged today"
    status += "".join(f"; {line}" for line in uncounted_lines(spend))
    if freshness.stale and freshness.since is not None:
        status += f"; verdict {stale_text(freshness, tz)}, spend may be higher"
    return status


def step_lines(steps: list[StepResult]) -> list[str]:
    """One line per step (✅/❌), its details indented, then the exact calls a dry run would have made."""
    lines = []
    for step in steps:
        mark = "❌" if not step.ok else "⚠️" if step.warning else "✅"
        lines.append(f"{mark} {step.step}: {step.summary}")
        lines += [f"    {detail}" for detail in step.details]
        if step.error:
            lines.append(f"    error: {step.error}")
        if step.warning:
            lines.append(f"    warning: {step.warning}")
    planned = [call for step in steps for call in step.planned]
    if planned:
        lines.append("Dry run: nothing was changed. The calls it would have made:")
        lines += [f"    {call}" for call in planned]
    return lines


def mode_label(apply_actions: bool) -> str:
    """APPLIED or DRY RUN, as the heading says it."""
    return "APPLIED" if apply_actions else "DRY RUN (VAST_EMERGENCY_ACTIONS=dry-run)"


def emergency_message(
    *,
    reason: str,
    figures: str,
    steps: list[StepResult],
    apply_actions: bool,
    incident_id: int | None,
    mention: str,
    run_id: str,
) -> Message:
    """The guide's "Notify team: post in #platform-alerts, tag @platform-ops" after an emergency shutdown."""
    failures = failed(steps)
    lines = [
        f":rotating_light: {mention} *Vast.ai emergency shutdown*: {mode_label(apply_actions)}",
        f"Reason: {reason}",
        f"Spend now: {figures}",
        "Steps:",
        *step_lines(steps),
    ]
    if failures:
        lines.append(
            f"*{len(failures)} step(s) failed* ({', '.join(s.step for s in failures)}): finish them by hand, "
            "per the guide's Runaway Costs procedure."
        )
    if not apply_actions:
        lines.append(
            "Nothing was changed: stop the workers and switch agent-router to the CPU fallback by hand, "
            "or set VAST_EMERGENCY_ACTIONS=apply."
        )
    lines.append(
        f"Incident #{incident_id} recorded." if incident_id else "The incident could not be recorded (see above)."
    )
    lines += [
        "Next: investigate the root cause (stuck requests, request patterns, optimization opportunities), "
        "then launch `restore_service`.",
        f"Dagster run: {run_id}",
    ]
    outcome = f"{len(failures)} step(s) failed" if failures else ("done" if apply_actions else "dry run")
    subject = f"[vast_pipelines] EMERGENCY: Vast.ai shutdown, {reason.split(':')[0].lower()} ({outcome})"
    return Message(subject, "\n".join(lines))


def restore_message(
    *,
    steps: list[StepResult],
    apply_actions: bool,
    closed: list[int],
    forced_over: tuple[str, ...],
    mention: str,
    run_id: str,
) -> Message:
    """The way back: what was resumed, whether vLLM answers, and which incidents are closed."""
    failures = failed(steps)
    icon = ":warning:" if failures else ":white_check_mark:"
    lines = [f"{icon} {mention} *Vast.ai service restore*: {mode_label(apply_actions)}"]
    if forced_over:
        lines.append(f"Forced although: {'; '.join(forced_over)}")
    lines += ["Steps:", *step_lines(steps)]
    if failures:
        lines.append(
            f"*{len(failures)} step(s) failed* ({', '.join(s.step for s in failures)}): the service is not "
            "verified back; the incident stays open."
        )
    lines.append(f"Incident(s) closed: {', '.join(f'#{i}' for i in closed)}." if closed else "No incident was closed.")
    lines.append(f"Dagster run: {run_id}")
    outcome = f"{len(failures)} step(s) failed" if failures else ("done" if apply_actions else "dry run")
    return Message(f"[vast_pipelines] Vast.ai service restore ({outcome})", "\n".join(lines))


def run_failed_message(*, job: str, run_id: str, error: str, tags: dict[str, str], mention: str) -> Message:
    """A failed emergency_shutdown or restore_service run: page on-call, whatever the run managed to say."""
    trigger = tags.get("vast_pipelines/trigger") or "launched by hand"
    attempt = tags.get("vast_pipelines/attempt")
    lines = [
        f":rotating_light: {mention} *`{job}` run failed*: the procedure may not have finished.",
        f"Trigger: {trigger}" + (f" (run {attempt} for it)" if attempt else ""),
        f"Error: {error[:600]}",
        "Check the run's steps in Dagster: what was stopped and switched, and what to finish by hand."
        + (
            " `runaway_cost_sensor` starts the emergency again after a back-off while no run has completed."
            if job == "emergency_shutdown"
            else " Launch `restore_service` again once the cause is fixed."
        ),
        f"Dagster run: {run_id}",
    ]
    return Message(f"[vast_pipelines] FAILED: {job} run {run_id[:8]}", "\n".join(lines))


def run_title(what: str, apply: bool) -> str:
    """The run's title tag: whether anything may change."""
    return f"{what}: APPLIED" if apply else f"DRY RUN of {what}: a plan, nothing is changed"


def steps_markdown(steps: list[StepResult]) -> str:
    """Every step's lines as Markdown bullets, for the UI."""
    return "\n".join(f"- {line}" for line in step_lines(steps))


def notice_sentence(steps: list[StepResult]) -> str:
    """What the notice to on-call really did, in the words of the run's failure (never a delivery that did not
    happen)."""
    notice = next((s for s in steps if s.step == NOTIFY_STEP), None)
    if notice is None or not notice.state:
        return "on-call could NOT be notified (see the notify step): tell them by hand."
    if notice.state.get("delivered"):
        return "on-call was notified with the details."
    if notice.state.get("kept"):
        return "the notice to on-call is NOT delivered yet (kept for retry, see the notify step): call on-call."
    return "on-call could NOT be notified (see the notify step): tell them by hand."


def failed_run_text(what: str, steps: list[StepResult]) -> str:
    """Why the run fails: the steps that failed, and whether on-call knows."""
    failures = failed(steps)
    return f"{what}: {len(failures)} step(s) failed ({', '.join(s.step for s in failures)}); " + notice_sentence(steps)


def not_configured_text(what: str, missing: list[str]) -> str:
    """A dry run that lacked credentials: its whole plan was made; what to set before applying."""
    return (
        f"{what}, dry run: not configured ({', '.join(missing)} not set). The plan above lists every call it "
        "would make; set these before VAST_EMERGENCY_ACTIONS=apply."
    )
