from dataclasses import dataclass, field

import dagster as dg
from pydantic import Field

from vast_pipelines import clock
from vast_pipelines.defs.emergency.router_steps import router_ops
from vast_pipelines.defs.emergency.steps import (
    EMERGENCY_JOB,
    attempt,
    carry_out,
    finish,
    incident_id,
    mark_run_mode,
    notify_op,
    step_output,
)
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.emergency import NOT_CONFIGURED, ShutdownMode, StepResult, failed
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.policy.emergency import Reason, missing_endpoints, shutdown_moves, still_holds
from vast_pipelines.reports.emergency import describe_reason, emergency_message, spend_line, stood_down_text
from vast_pipelines.reports.emergency_steps import (
    listing_step,
    not_listed_step,
    planned_listing_step,
    planned_shutdown_step,
    planned_targets,
    shutdown_step,
)
from vast_pipelines.reports.figures import guide_figures
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.vast import VastAIResource

LIST_STEP = "List the platform's endpoints"
STOP_STEP = "Shut down the endpoints"
INCIDENT_STEP = "Record the incident"


@dataclass(frozen=True)
class Emergency:
    """What the re-check found, carried to every step: the reason, the figures, and what may be changed."""

    reason: Reason
    summary: str
    apply: bool
    shutdown: ShutdownMode
    figures: dict = field(default_factory=dict)


class EmergencyConfig(dg.Config):
    """Set by `runaway_cost_sensor`; an operator launching the job by hand keeps the defaults."""

    reason: str = Field(default="manual", description="runaway | hard_cap | manual")
    trigger_spend: float | None = Field(default=None, description="USD figure that triggered the run (for the record)")
    shutdown: str | None = Field(default=None, description="stop | delete; unset: VAST_EMERGENCY_SHUTDOWN (stop)")


@dg.op(
    out={
        "emergency": dg.Out(is_required=False, description="The spend still exceeds: go on."),
        "stood_down": dg.Out(is_required=False, description="The spend no longer exceeds: nothing else runs."),
    }
)
def check_current_spend(
    context: dg.OpExecutionContext, config: EmergencyConfig, database: AnalyticsDatabase, settings: RunbookSettings
):
    """Runaway Costs step 1, "Check current spend": the shutdown goes on only if its reason still holds now."""
    try:
        reason = Reason(config.reason)
        shutdown = ShutdownMode(config.shutdown) if config.shutdown else settings.shutdown_mode
    except ValueError:
        raise dg.Failure(
            f"Config reason={config.reason!r}, shutdown={config.shutdown!r}: reason is runaway, hard_cap or manual; "
            "shutdown is stop or delete."
        ) from None
    mark_run_mode(context, settings.apply_actions, "emergency_shutdown")
    tz, limits = zone_and_limits(settings)
    spend = database.spend.summary(periods_at(clock.now(), tz))
    if reason is Reason.RUNAWAY:
        summary = describe_reason(reason, spend.today_cost, limits.runaway_daily)
    else:
        summary = describe_reason(reason, spend.month_to_date, limits.hard_cap)
    figures = {
        "today_spend": spend.today_cost,
        "month_to_date": spend.month_to_date,
        "today_requests": spend.today_requests,
        "null_cost_rows": spend.month_null_cost_rows,
        "runaway_daily": limits.runaway_daily,
        "hard_cap": limits.hard_cap,
        **({"trigger_spend": config.trigger_spend} if config.trigger_spend is not None else {}),
    }
    metadata = {**guide_figures(figures), "reason": summary, "mode": "apply" if settings.apply_actions else "dry-run"}
    if not still_holds(reason, spend, limits):
        text = stood_down_text(summary, spend, limits)
        context.log.warning(text)
        yield dg.Output(text, output_name="stood_down", metadata={**metadata, "outcome": text})
        return
    context.log.warning(f"Emergency shutdown goes on: {summary}")
    yield dg.Output(
        Emergency(reason, summary, settings.apply_actions, shutdown, figures),
        output_name="emergency",
        metadata=metadata,
    )


def list_endpoints(vast: VastAIResource) -> StepResult:
    """The platform's endpoints (VAST_ENDPOINTS, or all), and any named one the account does not have."""
    names = vast.owned_names()
    listed, malformed = vast.platform_endpoints_checked(patient=True)
    endpoints = [{"id": e.id, "name": e.name, "state": e.state} for e in listed]
    missing = missing_endpoints(names, [e.name for e in listed], malformed)
    return listing_step(LIST_STEP, names, endpoints, malformed, missing)


def planned_listing(vast: VastAIResource) -> StepResult:
    """A dry run without VAST_API_KEY: the listing it would make, and the endpoints it knows by name."""
    return planned_listing_step(LIST_STEP, vast.owned_names(), vast.describe_call("GET", vast.endpoints_path))


@dg.op
def list_platform_endpoints(
    context: dg.OpExecutionContext, emergency: Emergency, vast: VastAIResource
) -> dg.Output[StepResult]:
    """Step 2: the platform's serverless endpoints (the guide's "workers") and their state."""
    if not emergency.apply and not vast.configured:
        return step_output(attempt(context, LIST_STEP, lambda: planned_listing(vast)))
    return step_output(attempt(context, LIST_STEP, lambda: list_endpoints(vast)))


def shut_down(vast: VastAIResource, emergency: Emergency, listing: StepResult) -> StepResult:
    """Stop (endpoint_state ``stopped``) or delete each endpoint; already stopped or gone is success."""
    if "endpoints" not in listing.state:
        return not_listed_step(STOP_STEP)
    if listing.state.get(NOT_CONFIGURED):
        return planned_shutdown(vast, listing, emergency.shutdown)
    moves = shutdown_moves(listing.state["endpoints"], emergency.shutdown)
    return shutdown_step(STOP_STEP, [carry_out(vast, m, emergency.apply) for m in moves], emergency.shutdown)


def planned_shutdown(vast: VastAIResource, listing: StepResult, mode: ShutdownMode) -> StepResult:
    """The stop (or delete) calls a dry run without VAST_API_KEY would make, by endpoint name."""
    method, body = ("DELETE", None) if mode is ShutdownMode.DELETE else ("PUT", {"endpoint_state": "stopped"})
    names = [e["name"] for e in listing.state["endpoints"]]
    targets = planned_targets(names, vast.endpoints_path)
    planned = [prefix + vast.describe_call(method, path, body) for prefix, path in targets]
    return planned_shutdown_step(STOP_STEP, listing, mode, planned)


@dg.op
def stop_endpoints(
    context: dg.OpExecutionContext, emergency: Emergency, listing: StepResult, vast: VastAIResource
) -> dg.Output[StepResult]:
    """Step 3, "Shut down worker": endpoint_state `stopped` (or delete when configured so)."""
    return step_output(attempt(context, STOP_STEP, lambda: shut_down(vast, emergency, listing)))


emergency_switch_router, emergency_restart_router = router_ops(
    "fallback_",
    "false",
    'Step 4, "Enable fallback": USE_VASTAI=false in AGENT_ROUTER_ENV_FILE, atomically (temp file, fsync, rename), '
    "with a backup; other lines and comments untouched.",
)


@dg.op
def record_incident(
    context: dg.OpExecutionContext,
    emergency: Emergency,
    listing: StepResult,
    stop: StepResult,
    switch: StepResult,
    restart: StepResult,
    database: AnalyticsDatabase,
) -> dg.Output[StepResult]:
    """Keep the incident in `vast_pipelines.incidents` with the state before and after, and what failed."""
    steps = [listing, stop, switch, restart]

    def record() -> StepResult:
        incident_id = database.incidents.record_emergency(
            kind=emergency.reason.value,
            subject="vast.ai spend",
            mode="apply" if emergency.apply else "dry-run",
            run_id=context.run.run_id,
            summary=emergency.summary,
            figures=emergency.figures,
            before={"endpoints": listing.state.get("endpoints"), "USE_VASTAI": switch.state.get("before")},
            after={
                "endpoints": stop.state.get("after"),
                "shutdown": stop.state.get("mode"),
                "USE_VASTAI": switch.state.get("after"),
                # Goal state: whether agent-router is confirmed running with that value (restarted, or before).
                "router_confirmed": restart.state.get("confirmed"),
            },
            failures=[{"step": s.step, "error": s.error} for s in failed(steps)],
        )
        return StepResult(INCIDENT_STEP, True, f"incident #{incident_id}", state={"incident_id": incident_id})

    return step_output(attempt(context, INCIDENT_STEP, record))


notify_oncall = notify_op(
    "notify_oncall",
    "emergency_shutdown",
    "emergency",
    lambda emergency, steps, mention, run_id: emergency_message(
        reason=emergency.summary,
        figures=spend_line(emergency.figures["today_spend"], emergency.figures["month_to_date"]),
        steps=steps,
        apply_actions=emergency.apply,
        incident_id=incident_id(steps),
        mention=mention,
        run_id=run_id,
    ),
    'Step 5, "Notify team": #platform-alerts tagging on-call, and email, saying what was done and what failed.',
)


@dg.op
def shutdown_outcome(steps: list[StepResult]) -> dg.Output:
    """The run fails here, after the notice to on-call, if any step failed; its text says whether the notice was
    delivered. It succeeds otherwise."""
    return finish(steps, "Emergency shutdown")


@dg.job(
    name="emergency_shutdown",
    **EMERGENCY_JOB,
    description="The guide's Runaway Costs procedure: re-check spend, stop (or delete) the platform's Vast.ai "
    "endpoints, USE_VASTAI=false, restart agent-router, record the incident, notify #platform-alerts tagging "
    "on-call and email. VAST_EMERGENCY_ACTIONS=dry-run (the default) only reports the calls it would make.",
)
def emergency_shutdown():
    emergency, _stood_down = check_current_spend()
    listing = list_platform_endpoints(emergency)
    stop = stop_endpoints(emergency, listing)
    switch = emergency_switch_router(emergency, after=stop)
    restart = emergency_restart_router(emergency, switch)
    incident = record_incident(emergency, listing, stop, switch, restart)
    notify = notify_oncall(emergency, [listing, stop, switch, restart, incident])
    shutdown_outcome([listing, stop, switch, restart, incident, notify])
