from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from vast_pipelines import clock
from vast_pipelines.defs.emergency.router_steps import router_ops
from vast_pipelines.defs.emergency.steps import (
    EMERGENCY_JOB,
    attempt,
    carry_out,
    finish,
    mark_run_mode,
    notify_op,
    step_output,
)
from vast_pipelines.defs.probes import check_endpoint
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.emergency import StepResult, failed
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.policy.emergency import holding_reasons, left_behind, resume_moves
from vast_pipelines.reports.emergency import reason_line, restore_message, restore_refused_text
from vast_pipelines.reports.emergency_steps import close_step, resume_step, verify_step
from vast_pipelines.reports.figures import guide_figures
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.vast import VastAIResource

RESUME_STEP = "Resume the endpoints"
VERIFY_STEP = "Verify vLLM /v1/models answers"
CLOSE_STEP = "Close the incident"


@dataclass(frozen=True)
class Restore:
    """What the way back works from: the open incidents and what the emergency left behind."""

    apply: bool
    incidents: tuple[int, ...]
    stopped_before: tuple[int, ...]
    deleted: tuple[str, ...]
    forced_over: tuple[str, ...]


class RestoreConfig(dg.Config):
    """An operator launches the way back; it is refused while the emergency's reason still holds."""

    force: bool = Field(default=False, description="Restore even while the runaway or hard-cap reason still holds.")
    incident_id: int | None = Field(default=None, description="Close only this incident; unset: every open one.")


@dg.op
def check_restore_allowed(
    context: dg.OpExecutionContext, config: RestoreConfig, database: AnalyticsDatabase, settings: RunbookSettings
) -> dg.Output[Restore]:
    """Refuse while today's spend is over the runaway limit or the month is at the hard cap, unless forced."""
    mark_run_mode(context, settings.apply_actions, "restore_service")
    tz, limits = zone_and_limits(settings)
    spend = database.spend.summary(periods_at(clock.now(), tz))
    holding = tuple(reason_line(exceeded) for exceeded in holding_reasons(spend, limits))
    if holding and not config.force:
        raise dg.Failure(
            description=restore_refused_text(holding),
            metadata=guide_figures({"today_spend": spend.today_cost, "month_to_date": spend.month_to_date}),
        )
    incidents = database.incidents.open_emergencies(config.incident_id)
    if config.incident_id is not None and not incidents:
        raise dg.Failure(description=f"Incident #{config.incident_id} is not an open emergency incident.")
    stopped_before, deleted = left_behind(incidents)
    restore = Restore(
        apply=settings.apply_actions,
        incidents=tuple(i["id"] for i in incidents),
        stopped_before=stopped_before,
        deleted=deleted,
        forced_over=holding,
    )
    if holding:
        context.log.warning(f"Forced restore although: {'; '.join(holding)}")
    return dg.Output(
        restore,
        metadata={
            "today_spend": spend.today_cost,
            "month_to_date": spend.month_to_date,
            "open_incidents": ", ".join(f"#{i}" for i in restore.incidents) or "none",
            "forced_over": "; ".join(holding) or "nothing (no reason holds)",
            "mode": "apply" if restore.apply else "dry-run",
        },
    )


def resume(vast: VastAIResource, restore: Restore) -> StepResult:
    """endpoint_state ``active`` for the platform's stopped endpoints, except those stopped before the emergency."""
    endpoints = [{"id": e.id, "name": e.name, "state": e.state} for e in vast.platform_endpoints(patient=True)]
    moves = resume_moves(endpoints, restore.stopped_before)
    return resume_step(RESUME_STEP, [carry_out(vast, m, restore.apply) for m in moves], restore.deleted)


@dg.op
def resume_endpoints(context: dg.OpExecutionContext, restore: Restore, vast: VastAIResource) -> dg.Output[StepResult]:
    """Restore step 1: endpoint_state `active` for the endpoints the emergency stopped."""
    return step_output(attempt(context, RESUME_STEP, lambda: resume(vast, restore)))


restore_switch_router, restore_restart_router = router_ops(
    "restore_",
    "true",
    "Restore step 2: USE_VASTAI=true in AGENT_ROUTER_ENV_FILE, atomically, with a backup.",
)


def verify(endpoints: InferenceEndpoints) -> StepResult:
    """vLLM answers `/health` and lists models on `/v1/models` (after the cold-start wait and one retry)."""
    return verify_step(VERIFY_STEP, check_endpoint(endpoints, "vLLM"))


@dg.op(ins={"after": dg.In(dg.Nothing)})
def verify_models(context: dg.OpExecutionContext, endpoints: InferenceEndpoints) -> dg.Output[StepResult]:
    """Restore step 4: GET vLLM `/v1/models` answers (a cold start gets the guide's 30 s and one retry)."""
    return step_output(attempt(context, VERIFY_STEP, lambda: verify(endpoints)))


@dg.op
def close_incident(
    context: dg.OpExecutionContext,
    restore: Restore,
    resumed: StepResult,
    switch: StepResult,
    restart: StepResult,
    verified: StepResult,
    database: AnalyticsDatabase,
) -> dg.Output[StepResult]:
    """Restore step 5: resolve the open incidents, once every step before succeeded."""
    steps = [resumed, switch, restart, verified]

    def close() -> StepResult:
        if failed(steps):
            return close_step(CLOSE_STEP, None, restore.incidents)
        if not restore.incidents:
            return close_step(CLOSE_STEP, [], restore.incidents)
        restored = {
            "USE_VASTAI": switch.state.get("after"),
            "resumed": resumed.state.get("resumed"),
            "vllm": verified.summary,
        }
        closed = database.incidents.close(restore.incidents, run_id=context.run.run_id, restored=restored)
        return close_step(CLOSE_STEP, closed, restore.incidents)

    return step_output(attempt(context, CLOSE_STEP, close))


notify_restore = notify_op(
    "notify_restore",
    "restore_service",
    "restore",
    lambda restore, steps, mention, run_id: restore_message(
        steps=steps,
        apply_actions=restore.apply,
        closed=next((s.state["closed"] for s in steps if "closed" in s.state), []),
        forced_over=restore.forced_over,
        mention=mention,
        run_id=run_id,
    ),
    "Restore step 6: tell #platform-alerts and platform-ops what came back.",
)


@dg.op
def restore_outcome(steps: list[StepResult]) -> dg.Output:
    """The run fails here, after the notice to on-call, if any step failed (saying whether it was delivered)."""
    return finish(steps, "Restore")


@dg.job(
    name="restore_service",
    **EMERGENCY_JOB,
    description="The way back from an emergency shutdown: endpoint_state active, USE_VASTAI=true, restart "
    "agent-router, verify vLLM /v1/models answers, close the incident, notify. Refused while the reason still "
    "holds unless launched with force: true.",
)
def restore_service():
    restore = check_restore_allowed()
    resumed = resume_endpoints(restore)
    switch = restore_switch_router(restore, after=resumed)
    restart = restore_restart_router(restore, switch)
    verified = verify_models(after=restart)
    closed = close_incident(restore, resumed, switch, restart, verified)
    notify = notify_restore(restore, [resumed, switch, restart, verified, closed])
    restore_outcome([resumed, switch, restart, verified, closed, notify])
