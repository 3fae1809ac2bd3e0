"""The agent-router steps both procedures share: set ``USE_VASTAI`` in its .env, then restart it."""

import dagster as dg

from vast_pipelines.defs.emergency.steps import Procedure, attempt, step_output
from vast_pipelines.domain.emergency import StepResult
from vast_pipelines.errors import OperatorError
from vast_pipelines.notifications.delivery import OUTBOX_DOWN
from vast_pipelines.reports.emergency_steps import (
    RESTART_STEP,
    restart_confirmed_step,
    restart_done_step,
    restart_no_command_step,
    restart_not_attempted_step,
    restart_planned_step,
    restart_reason,
    switch_done_step,
    switch_not_configured_step,
    switch_planned_step,
    switch_step_name,
    unconfirmed_line,
)
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.router import AgentRouterResource


def switch_router(router: AgentRouterResource, procedure: Procedure, step: str, value: str) -> StepResult:
    """Set ``USE_VASTAI`` in agent-router's .env atomically (with a backup); in dry-run, say what would change."""
    if not procedure.apply and not router.env_file:
        return switch_not_configured_step(step, value)
    if not procedure.apply:
        change = router.plan("USE_VASTAI", value)
        return switch_planned_step(step, value, router.env_file, change.before, change.changed)
    change = router.write("USE_VASTAI", value)
    return switch_done_step(step, value, change.before, change.changed, change.backup)


def confirmed_run(database: AnalyticsDatabase, value: str) -> str | None:
    """The run that last restarted agent-router, if it restarted it with ``USE_VASTAI=value`` (unknown: None, so
    the router is restarted)."""
    try:
        last = database.incidents.router_confirmation()
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
        return restart_not_attempted_step(step, switch)
    changed = bool(switch.planned) if not procedure.apply else bool(switch.state.get("changed"))
    confirmed = None if changed else confirmed_run(database, value)
    if confirmed:
        return restart_confirmed_step(step, value, confirmed)
    why = restart_reason(changed, value)
    if not procedure.apply:
        return restart_planned_step(step, why, router.restart_command)
    if not router.restart_command:
        return restart_no_command_step(step, value)
    result = router.restart()
    details = [result.output[-500:]] if result.output else []
    try:
        database.incidents.confirm_router(run_id=run_id, use_vastai=value)
    except (OperatorError, *OUTBOX_DOWN) as exc:
        details.append(unconfirmed_line(exc))
    return restart_done_step(step, why, router.restart_command, value, details)


def router_ops(prefix: str, value: str, switch_doc: str) -> tuple[dg.OpDefinition, dg.OpDefinition]:
    """The switch and restart ops of a procedure: ``{prefix}switch_router`` and ``{prefix}restart_router``.

    The switch runs after the Vast.ai step (``after``) whatever that step's outcome.
    """
    switch_step = switch_step_name(value)
    restart_step = RESTART_STEP

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
