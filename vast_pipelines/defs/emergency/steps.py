"""What the emergency and restore jobs share: each step's result as an op output, and the router steps."""

from collections.abc import Callable
from typing import Protocol

import dagster as dg

from vast_pipelines.domain.emergency import StepResult, failed
from vast_pipelines.notifications import OUTBOX_DOWN, alert
from vast_pipelines.reports.alerts import Message
from vast_pipelines.reports.emergency import step_lines
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.errors import OperatorError
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.resources.slack import SlackResource

EMERGENCY_TAG = "vast_pipelines/emergency"
# Set on the run when it starts, so the runs list and the run page say whether anything may change.
MODE_TAG = "vast_pipelines/mode"
TITLE_TAG = "vast_pipelines/title"
NOTIFY_STEP = "Notify on-call"
NOT_CONFIGURED = "not_configured"


class Procedure(Protocol):
    """What every step needs to know about the run: whether it may change anything."""

    apply: bool


def mark_run_mode(context: dg.OpExecutionContext, apply: bool, what: str) -> None:
    """Tag the run with its mode and a title saying what it is: a dry run is a plan, nothing changes."""
    title = f"{what}: APPLIED" if apply else f"DRY RUN of {what}: a plan, nothing is changed"
    context.instance.add_run_tags(context.run.run_id, {MODE_TAG: "apply" if apply else "dry-run", TITLE_TAG: title})
    context.log.info(title)


def not_configured(steps: list[StepResult]) -> list[str]:
    """The settings a dry run found missing (VAST_API_KEY, AGENT_ROUTER_ENV_FILE), in step order."""
    return list(dict.fromkeys(s.state[NOT_CONFIGURED] for s in steps if s.state.get(NOT_CONFIGURED)))


def attempt(context: dg.OpExecutionContext, step: str, action: Callable[[], StepResult]) -> StepResult:
    """Run one step; any failure becomes a failed result, so the steps after it (and the notice) still run."""
    try:
        result = action()
    except OperatorError as exc:
        result = StepResult(step, False, "failed", error=str(exc))
    except Exception as exc:  # a bug or an unexpected answer must not hide the steps after it
        result = StepResult(step, False, "failed unexpectedly", error=f"{type(exc).__name__}: {exc}")
    log = context.log.error if not result.ok else context.log.warning if result.warning else context.log.info
    log("\n".join(step_lines([result])))
    return result


def step_output(result: StepResult) -> dg.Output:
    """The step's result as its op output, with what the UI shows."""
    metadata: dict[str, object] = {"ok": result.ok, "summary": result.summary}
    if result.details:
        metadata["details"] = dg.MetadataValue.md("\n".join(f"- {d}" for d in result.details))
    if result.planned:
        metadata["dry_run_calls"] = dg.MetadataValue.md("\n".join(f"- `{call}`" for call in result.planned))
    if result.error:
        metadata["error"] = result.error
    if result.warning:
        metadata["warning"] = result.warning
    return dg.Output(result, metadata=metadata)


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


def finish(steps: list[StepResult], what: str) -> dg.Output:
    """Succeed, or fail the run after everything else ran, listing the steps to finish by hand.

    A dry run that lacked credentials still made its whole plan: it ends with a "not configured" outcome
    naming what to set, not with a failure.
    """
    failures = failed(steps)
    report = dg.MetadataValue.md("\n".join(f"- {line}" for line in step_lines(steps)))
    missing = not_configured(steps)
    if failures:
        raise dg.Failure(
            description=f"{what}: {len(failures)} step(s) failed ({', '.join(s.step for s in failures)}); "
            + notice_sentence(steps),
            metadata={"failed_steps": len(failures), "steps": report},
        )
    if missing:
        outcome = (
            f"{what}, dry run: not configured ({', '.join(missing)} not set). The plan above lists every call it "
            "would make; set these before VAST_EMERGENCY_ACTIONS=apply."
        )
        return dg.Output(None, metadata={"failed_steps": 0, "outcome": outcome, "steps": report})
    return dg.Output(None, metadata={"failed_steps": 0, "steps": report})


def notify_step(
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    message: Message,
    *,
    kind: str,
    dedupe_key: str,
) -> StepResult:
    """Tell #platform-alerts and platform-ops through the outbox (directly if it cannot be written); a delivery
    that fails waits for retry. The step fails when no copy was delivered or kept; it warns when none was
    delivered yet."""
    sent = alert(database, slack, email, message, kind=kind, dedupe_key=dedupe_key)
    counts = {"delivered": sent.delivered, "kept": sent.kept, "lost": sent.lost}
    summary = f"{slack.alerts_channel} and email: {sent.delivered} delivered, {sent.kept} kept for retry"
    if sent.lost:
        summary += f", {sent.lost} lost"
    if not sent.delivered and not sent.kept:
        error = "no copy reached on-call and none is kept for retry: tell them by hand"
        return StepResult(NOTIFY_STEP, False, summary, details=tuple(sent.lines), error=error, state=counts)
    warning = None if sent.delivered else "no copy reached on-call yet (kept for retry): call them"
    return StepResult(NOTIFY_STEP, True, summary, details=tuple(sent.lines), warning=warning, state=counts)


def incident_id(steps: list[StepResult]) -> int | None:
    """The incident a step recorded, if one did."""
    return next((s.state["incident_id"] for s in steps if "incident_id" in s.state), None)


def switch_router(router: AgentRouterResource, procedure: Procedure, step: str, value: str) -> StepResult:
    """Set ``USE_VASTAI`` in agent-router's .env atomically (with a backup); in dry-run, say what would change."""
    if not procedure.apply and not router.env_file:
        return StepResult(
            step,
            True,
            f"would set USE_VASTAI={value}; not configured: AGENT_ROUTER_ENV_FILE is not set",
            planned=(f"set USE_VASTAI={value} in agent-router's .env (AGENT_ROUTER_ENV_FILE, not set)",),
            warning="AGENT_ROUTER_ENV_FILE is not set: name agent-router's .env before VAST_EMERGENCY_ACTIONS=apply",
            state={"before": None, "after": None, NOT_CONFIGURED: "AGENT_ROUTER_ENV_FILE"},
        )
    if not procedure.apply:
        change = router.plan("USE_VASTAI", value)
        planned = (f"set USE_VASTAI={value} in {router.env_file} (now {change.before})",) if change.changed else ()
        summary = f"would set USE_VASTAI={value}" if change.changed else f"USE_VASTAI is already {value}"
        return StepResult(step, True, summary, planned=planned, state={"before": change.before, "after": change.before})
    change = router.write("USE_VASTAI", value)
    summary = f"USE_VASTAI {change.before} → {value}" if change.changed else f"USE_VASTAI was already {value}"
    details = (f"backup: {change.backup}",) if change.backup else ()
    return StepResult(
        step,
        True,
        summary,
        details=details,
        state={"before": change.before, "after": value, "changed": change.changed, "backup": change.backup},
    )


def confirmed_run(database: AnalyticsDatabase, value: str) -> str | None:
    """The run that last restarted agent-router, if it restarted it with ``USE_VASTAI=value`` (unknown: None, so
    the router is restarted)."""
    try:
        last = database.router_confirmation()
    except (OperatorError, *OUTBOX_DOWN):
        return None
    return last["run_id"] if last and last["use_vastai"] == value else None


def restart_after(
    router: AgentRouterResource,
    procedure: Procedure,
    switch: StepResult,
    step: str,
    *,
    value: str,
    database: AnalyticsDatabase,
    run_id: str,
) -> StepResult:
    """Restart agent-router unless it is confirmed running with ``USE_VASTAI=value`` (goal state, not last state).

    A .env that already holds the value proves nothing (a restart that failed before leaves the router running with
    the old one), so only a restart recorded in ``vast_pipelines.router_confirmations`` with this value, and no
    change to the .env since, skips it. No restart command fails the step: the router must be restarted by hand.
    """
    if not switch.ok:
        return StepResult(step, False, "not attempted: the router's .env was not switched", error=switch.error)
    changed = bool(switch.planned) if not procedure.apply else bool(switch.state.get("changed"))
    confirmed = None if changed else confirmed_run(database, value)
    if confirmed:
        return StepResult(
            step,
            True,
            f"no restart needed: agent-router was restarted with USE_VASTAI={value} by run {confirmed}",
            state={"confirmed": value},
        )
    why = "its .env changed" if changed else f"not confirmed running with USE_VASTAI={value}"
    if not procedure.apply:
        command = router.restart_command or "(AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand)"
        return StepResult(step, True, f"would restart agent-router ({why})", planned=(f"run: {command}",))
    if not router.restart_command:
        return StepResult(
            step,
            False,
            "agent-router was NOT restarted",
            error=f"AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand (e.g. `docker compose "
            f"restart agent-router`) so it runs with USE_VASTAI={value}",
        )
    result = router.restart()
    details = [result.output[-500:]] if result.output else []
    try:
        database.confirm_router(run_id=run_id, use_vastai=value)
    except (OperatorError, *OUTBOX_DOWN) as exc:
        details.append(f"not recorded as confirmed ({exc}); the next run restarts it again")
    return StepResult(
        step,
        True,
        f"restarted agent-router ({why}): `{router.restart_command}`",
        details=tuple(details),
        state={"confirmed": value},
    )


def router_ops(prefix: str, value: str, switch_doc: str) -> tuple[dg.OpDefinition, dg.OpDefinition]:
    """The switch and restart ops of a procedure: ``{prefix}switch_router`` and ``{prefix}restart_router``.

    The switch runs after the Vast.ai step (``after``) whatever that step's outcome.
    """
    switch_step = f"Set USE_VASTAI={value}"
    restart_step = "Restart agent-router"

    @dg.op(name=f"{prefix}switch_router", description=switch_doc, ins={"after": dg.In(dg.Nothing)})
    def switch_op(context: dg.OpExecutionContext, procedure, router: AgentRouterResource) -> dg.Output:
        return step_output(attempt(context, switch_step, lambda: switch_router(router, procedure, switch_step, value)))

    @dg.op(
        name=f"{prefix}restart_router",
        description="Restart agent-router with AGENT_ROUTER_RESTART_COMMAND (with a timeout) unless it is confirmed "
        f"running with USE_VASTAI={value}; no restart command fails the step (restart it by hand).",
    )
    def restart_op(
        context: dg.OpExecutionContext, procedure, switch, router: AgentRouterResource, database: AnalyticsDatabase
    ) -> dg.Output:
        run_id = context.run.run_id
        return step_output(
            attempt(
                context,
                restart_step,
                lambda: restart_after(
                    router, procedure, switch, restart_step, value=value, database=database, run_id=run_id
                ),
            )
        )

    return switch_op, restart_op
