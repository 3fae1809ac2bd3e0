import json
from datetime import datetime

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.cost_freshness import cost_freshness
from vast_pipelines.defs.emergency.shutdown import emergency_shutdown
from vast_pipelines.defs.emergency.steps import EMERGENCY_TAG
from vast_pipelines.defs.guards import fail_when_blind
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.policy.emergency import Reason, Trigger, emergency_triggers
from vast_pipelines.policy.emergency_runs import (
    MAX_ATTEMPTS,
    KeyState,
    Memory,
    RunHistory,
    history,
    key_state,
    requested,
    run_key,
)
from vast_pipelines.reports.emergency import reason_line, runaway_status
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.heartbeat import HeartbeatResource
from vast_pipelines.resources.settings import RunbookSettings

ANSWERS_TAG = "vast_pipelines/answers_"  # + reason: the trigger key a run answers, e.g. runaway:2026-03-14
ATTEMPT_TAG = "vast_pipelines/attempt"


def load_memory(cursor: str | None) -> dict[str, Memory]:
    """What the last tick remembered per trigger key (an older or unreadable cursor is forgotten)."""
    try:
        keys = json.loads(cursor or "{}").get("keys", {})
    except (ValueError, AttributeError):
        return {}

    def moment(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    return {
        key: Memory(m.get("attempt"), moment(m.get("at")), int(m.get("failures", 0)), moment(m.get("retry_at")))
        for key, m in keys.items()
        if isinstance(m, dict)
    }


def dump_memory(memory: dict[str, Memory]) -> str:
    """The cursor: per trigger key still of interest, the attempt asked for and the back-off."""
    return json.dumps(
        {
            "keys": {
                key: {
                    "attempt": m.requested_attempt,
                    "at": m.requested_at.isoformat() if m.requested_at else None,
                    "failures": m.failures_seen,
                    "retry_at": m.retry_at.isoformat() if m.retry_at else None,
                }
                for key, m in sorted(memory.items())
            }
        }
    )


def answered_runs(instance: dg.DagsterInstance, trigger: Trigger) -> RunHistory:
    """The emergency_shutdown runs that answered ``trigger`` (by tag), by outcome: one bounded read."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=emergency_shutdown.name, tags={ANSWERS_TAG + trigger.reason.value: trigger.run_key}
        ),
        limit=MAX_ATTEMPTS * 4,
    )
    return history(record.dagster_run.status.value for record in records)


@dg.sensor(
    name="runaway_cost_sensor",
    job=emergency_shutdown,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The guide's Runaway Costs trigger: today's spend over $50 (runaway_daily) or month-to-date at the "
    "$200 hard cap starts emergency_shutdown, and starts it again (new run key, back-off, at most "
    f"{MAX_ATTEMPTS} runs) until one run for the day (runaway) or month (hard cap) has completed.",
)
@fail_when_blind
def runaway_cost_sensor(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    settings: RunbookSettings,
    heartbeat: HeartbeatResource,
) -> dg.SensorResult:
    """One indexed query and at most two run-storage reads per tick: a trigger is answered by a *completed*
    emergency run, not by a request. A tick that judged pings HEARTBEAT_URL (the dead-man's switch)."""
    result = judge_runaway(context, database, settings)
    ping = heartbeat.ping()
    if heartbeat.url and not ping.sent:
        context.log.warning(f"{ping.detail}; the outside monitor will page if this goes on")
    if heartbeat.url and result.skip_reason is not None:
        reason = result.skip_reason.skip_message or ""
        return dg.SensorResult(skip_reason=f"{reason} ({ping.detail})", cursor=result.cursor)
    return result


def judge_runaway(
    context: dg.SensorEvaluationContext, database: AnalyticsDatabase, settings: RunbookSettings
) -> dg.SensorResult:
    """The tick's decision: which emergency run to request, if any."""
    tz, limits = zone_and_limits(settings)
    now = clock.now()
    periods = periods_at(now, tz)
    spend = database.spend.summary(periods, rolling_24h=False)
    today = periods.today_start.date()
    status = runaway_status(spend, limits, cost_freshness(database, periods.now, limits, spend), tz)
    remembered = load_memory(context.cursor)
    memory: dict[str, Memory] = {}
    due: list[tuple[Trigger, int]] = []
    notes = []
    for trigger in emergency_triggers(spend, today, limits):
        runs = answered_runs(context.instance, trigger)
        state, memory[trigger.run_key] = key_state(runs, remembered.get(trigger.run_key, Memory()), now)
        if state is KeyState.DUE:
            due.append((trigger, runs.failed))
        else:
            notes.append(
                f"{trigger.run_key}: {state.value}" + (f" after {runs.failed} failed run(s)" if runs.failed else "")
            )
        if state is KeyState.GAVE_UP:
            context.log.error(
                f"{trigger.run_key}: {runs.failed} emergency_shutdown runs failed; not starting another. "
                "On-call was paged for each failed run: finish the shutdown by hand."
            )
    if not due:
        said = f" ({'; '.join(notes)})" if notes else ""
        return dg.SensorResult(skip_reason=f"{status}: no new emergency{said}.", cursor=dump_memory(memory))
    # The hard cap outranks a runaway day: one run answers both when they arrive together.
    due.sort(key=lambda item: item[0].reason is not Reason.HARD_CAP)
    first, attempt = due[0]
    key = run_key(first.run_key, attempt)
    context.log.warning(
        f"Starting emergency_shutdown ({key}): {'; '.join(reason_line(t) for t, _ in due)}"
        + (f"; attempt {attempt + 1} of {MAX_ATTEMPTS} after {attempt} failed run(s)" if attempt else "")
    )
    request = dg.RunRequest(
        run_key=key,
        run_config={
            "ops": {"check_current_spend": {"config": {"reason": first.reason.value, "trigger_spend": first.spend}}}
        },
        tags={
            EMERGENCY_TAG: "true",
            ATTEMPT_TAG: str(attempt + 1),
            **{ANSWERS_TAG + t.reason.value: t.run_key for t, _ in due},
            "vast_pipelines/reason": ",".join(t.reason.value for t, _ in due),
            "vast_pipelines/trigger": reason_line(first),
            "vast_pipelines/today_spend": f"{spend.today_cost:.2f}",
            "vast_pipelines/month_to_date": f"{spend.month_to_date:.2f}",
        },
    )
    for trigger, failed_runs in due:
        memory[trigger.run_key] = requested(memory[trigger.run_key], failed_runs, now)
    return dg.SensorResult(run_requests=[request], cursor=dump_memory(memory))
