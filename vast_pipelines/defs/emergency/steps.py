"""What the emergency and restore jobs share: each step's result as an op output, and the router steps."""

from collections.abc import Callable
from typing import Protocol

import dagster as dg

from vast_pipelines.notifications import send_alert
from vast_pipelines.policy.emergency import StepResult, failed
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
            "on-call was notified with the details.",
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
    """Tell #platform-alerts and platform-ops through the outbox; a delivery that fails waits there for retry."""
    lines = send_alert(database, slack, email, message, kind=kind, dedupe_key=dedupe_key)
    return StepResult(NOTIFY_STEP, True, f"{slack.alerts_channel} and email", details=tuple(lines))


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


def restart_after(router: AgentRouterResource, procedure: Procedure, switch: StepResult, step: str) -> StepResult:
    """Restart agent-router when its .env changed (AGENT_ROUTER_RESTART_COMMAND, with a timeout)."""
    if not switch.ok:
        return StepResult(step, False, "not attempted: the router's .env was not switched", error=switch.error)
    if not procedure.apply:
        if not switch.planned:
            return StepResult(step, True, "no restart needed: USE_VASTAI already has the right value")
        command = router.restart_command or "(AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand)"
        return StepResult(step, True, "would restart agent-router", planned=(f"run: {command}",))
    if not switch.state.get("changed"):
        return StepResult(step, True, "no restart needed: USE_VASTAI already had the right value")
    result = router.restart()
    if not result.ran:
        return StepResult(step, True, "agent-router was not restarted", warning=result.output)
    details = (result.output[-500:],) if result.output else ()
    return StepResult(step, True, f"restarted agent-router: `{router.restart_command}`", details=details)


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
        description="Restart agent-router with AGENT_ROUTER_RESTART_COMMAND (with a timeout) when its .env changed.",
    )
    def restart_op(context: dg.OpExecutionContext, procedure, switch, router: AgentRouterResource) -> dg.Output:
        return step_output(
            attempt(context, restart_step, lambda: restart_after(router, procedure, switch, restart_step))
        )

    return switch_op, restart_op
