import dagster as dg

from vast_pipelines.defs.emergency.restore import restore_service
from vast_pipelines.defs.emergency.shutdown import emergency_shutdown
from vast_pipelines.notifications.alerts import alert
from vast_pipelines.reports.emergency import run_failed_message
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource


def step_errors(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Each failed step and the innermost error it raised (what names the thing to fix)."""
    errors = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        error = event.step_failure_data.error if event and event.step_failure_data else None
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            errors.append(f"{event.step_key}: {error.message.strip().splitlines()[-1][:300]}")
    return errors


@dg.run_failure_sensor(
    name="emergency_run_failure_sensor",
    monitored_jobs=[emergency_shutdown, restore_service],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Pages on-call (#platform-alerts tagging SLACK_ONCALL_MENTION, and email) for every failed "
    "emergency_shutdown or restore_service run, once per run, whatever the run itself managed to send.",
)
def emergency_run_failure_sensor(
    context: dg.RunFailureSensorContext, database: AnalyticsDatabase, slack: SlackResource, email: EmailResource
) -> None:
    """One page per failed run (deduplicated by run id in the outbox, sent directly if the database is down)."""
    run = context.dagster_run
    error = "; ".join(step_errors(context.instance, run.run_id)) or context.failure_event.message or "the run failed"
    message = run_failed_message(
        job=run.job_name, run_id=run.run_id, error=error, tags=dict(run.tags), mention=slack.oncall_mention
    )
    lines = alert(
        database, slack, email, message, kind="emergency_run_failed", dedupe_key=f"run_failed:{run.run_id}"
    ).lines
    context.log.info(f"Paged on-call for failed {run.job_name} run {run.run_id}: {'; '.join(lines)}")
