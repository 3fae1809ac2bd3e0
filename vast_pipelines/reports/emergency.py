"""What the emergency shutdown and the restore tell on-call: each step, what failed, what is next."""

from __future__ import annotations

from vast_pipelines.domain.emergency import StepResult, failed
from vast_pipelines.reports.alerts import Message


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
