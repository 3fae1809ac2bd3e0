"""What the emergency and restore jobs share: each step's result as an op output, and the router steps."""

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import dagster as dg

from vast_pipelines.domain.emergency import NOT_CONFIGURED, EndpointMove, Move, StepResult, failed
from vast_pipelines.errors import OperatorError
from vast_pipelines.notifications.alerts import alert
from vast_pipelines.reports.alerts import Message
from vast_pipelines.reports.emergency import (
    failed_run_text,
    not_configured_text,
    run_title,
    step_lines,
    steps_markdown,
)
from vast_pipelines.reports.emergency_steps import (
    NOTIFY_STEP,
    calls_markdown,
    crashed_step,
    details_markdown,
    failed_step,
    notify_result,
)
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource

EMERGENCY_TAG = "vast_pipelines/emergency"
# What the emergency_shutdown and restore_service jobs share: their tag, and every step in the run's own process
# (a process per step cost about 3 s each, 24 s for the shutdown; the steps run one after the other anyway, and
# the stop call must reach Vast.ai within seconds).
EMERGENCY_JOB = {"tags": {EMERGENCY_TAG: "true"}, "executor_def": dg.in_process_executor}
# Set on the run when it starts, so the runs list and the run page say whether anything may change.
MODE_TAG = "vast_pipelines/mode"
TITLE_TAG = "vast_pipelines/title"


class Procedure(Protocol):
    """What every step needs to know about the run: whether it may change anything."""

    apply: bool


def mark_run_mode(context: dg.OpExecutionContext, apply: bool, what: str) -> None:
    """Tag the run with its mode and a title saying what it is: a dry run is a plan, nothing changes."""
    title = run_title(what, apply)
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
        result = failed_step(step, str(exc))
    except Exception as exc:  # a bug or an unexpected answer must not hide the steps after it
        result = crashed_step(step, exc)
    log = context.log.error if not result.ok else context.log.warning if result.warning else context.log.info
    log("\n".join(step_lines([result])))
    return result


def step_output(result: StepResult) -> dg.Output:
    """The step's result as its op output, with what the UI shows."""
    metadata: dict[str, object] = {"ok": result.ok, "summary": result.summary}
    if result.details:
        metadata["details"] = dg.MetadataValue.md(details_markdown(result))
    if result.planned:
        metadata["dry_run_calls"] = dg.MetadataValue.md(calls_markdown(result))
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
    report = dg.MetadataValue.md(steps_markdown(steps))
    missing = not_configured(steps)
    if failures:
        raise dg.Failure(
            description=failed_run_text(what, steps),
            metadata={"failed_steps": len(failures), "steps": report},
        )
    if missing:
        outcome = not_configured_text(what, missing)
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
    return notify_result(
        NOTIFY_STEP, slack.alerts_channel, delivered=sent.delivered, kept=sent.kept, lost=sent.lost, lines=sent.lines
    )


def incident_id(steps: list[StepResult]) -> int | None:
    """The incident a step recorded, if one did."""
    return next((s.state["incident_id"] for s in steps if "incident_id" in s.state), None)


# The Vast.ai call of each move: method and body, on the endpoint's path.
_CALLS = {
    Move.STOP: ("PUT", {"endpoint_state": "stopped"}),
    Move.DELETE: ("DELETE", None),
    Move.RESUME: ("PUT", {"endpoint_state": "active"}),
}


def carry_out(vast: VastAIResource, move: EndpointMove, apply: bool) -> EndpointMove:
    """Make the move's change on Vast.ai (a dry run: say the call it would make); an error is kept, not raised, so
    the other endpoints are still handled."""
    if not move.acts:
        return move
    endpoint_id = move.endpoint["id"]
    if not apply:
        method, body = _CALLS[move.move]
        return replace(move, planned=vast.describe_call(method, f"{vast.endpoints_path}{endpoint_id}/", body))
    try:
        if move.move is Move.DELETE:
            gone = not vast.delete_endpoint(endpoint_id, patient=True)
        elif move.move is Move.STOP:
            gone = not vast.stop_endpoint(endpoint_id, patient=True)
        else:
            vast.set_endpoint_state(endpoint_id, "active", patient=True)
            gone = False
    except OperatorError as exc:
        return replace(move, error=str(exc))
    return replace(move, gone=gone)


def notify_op(
    name: str,
    kind: str,
    key: str,
    compose: Callable[[Procedure, list[StepResult], str, str], Message],
    description: str,
) -> dg.OpDefinition:
    """The op that tells #platform-alerts and platform-ops (email) how a procedure went: ``compose(procedure,
    steps, mention, run_id)`` writes the message, kept in the outbox as ``kind`` with dedupe key ``{key}:{run_id}``."""

    @dg.op(name=name, description=description)
    def notify(
        context: dg.OpExecutionContext,
        procedure,
        steps: list[StepResult],
        database: AnalyticsDatabase,
        slack: SlackResource,
        email: EmailResource,
    ) -> dg.Output:
        run_id = context.run.run_id

        def send() -> StepResult:
            message = compose(procedure, steps, slack.oncall_mention, run_id)
            return notify_step(database, slack, email, message, kind=kind, dedupe_key=f"{key}:{run_id}")

        return step_output(attempt(context, NOTIFY_STEP, send))

    return notify
