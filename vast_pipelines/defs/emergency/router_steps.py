"""The agent-router steps both procedures share: set ``USE_VASTAI`` in its .env, then restart it."""

import dagster as dg

from vast_pipelines.defs.emergency.steps import Procedure, attempt, step_output
from vast_pipelines.domain.emergency import NOT_CONFIGURED, StepResult
from vast_pipelines.errors import OperatorError
from vast_pipelines.notifications.delivery import OUTBOX_DOWN
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.router import AgentRouterResource


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
        database.incidents.confirm_router(run_id=run_id, use_vastai=value)
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
