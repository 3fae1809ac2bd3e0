import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.probes import ENDPOINTS, check_endpoint, vast_summary
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.notifications.alerts import alert
from vast_pipelines.policy.health import EndpointStatus
from vast_pipelines.policy.outage import OutageAction, down_since, outage_action
from vast_pipelines.reports.outage import (
    check_line,
    closed_line,
    late_context,
    opened_line,
    outage_opened,
    outage_recovered,
    outage_summary,
    still_open_line,
    tailscale_line,
    watch_line,
)
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.tailscale import TailscaleResource
from vast_pipelines.resources.vast import VastAIResource

# Tailscale and Vast.ai are asked during the cold-start wait; the check waits at most this long more for them
# (an outage message with "unknown" beats a late one).
CONTEXT_WAIT_SECONDS = 5.0


def outage_context(tailscale: TailscaleResource, vast: VastAIResource) -> dict[str, Any]:
    """Tailscale's view of the GPU host and the Vast.ai workers' status, for the outage message."""
    peer = tailscale.peer_state()
    summary = vast_summary(vast)
    return {"tailscale": tailscale_line(peer.state, peer.detail), "vast": list(summary.lines)}


def check_with_context(
    endpoints: InferenceEndpoints, tailscale: TailscaleResource, vast: VastAIResource
) -> tuple[list[EndpointStatus], dict[str, Any] | None]:
    """vLLM and Ollama, checked side by side (so the tick takes as long as one check), each after the guide's
    cold-start retry; when one fails, Tailscale and Vast.ai are asked meanwhile (once)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outage-context")
    checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="outage-check")
    asked: list[Future] = []
    lock = threading.Lock()

    def wait_while_asking(seconds: float) -> None:
        with lock:
            if not asked:
                asked.append(pool.submit(outage_context, tailscale, vast))
        time.sleep(seconds)

    try:
        running = [checks.submit(check_endpoint, endpoints, name, wait_while_asking) for name in ENDPOINTS]
        statuses = [future.result() for future in running]
        if all(status.online for status in statuses):
            return statuses, None
        if not asked:
            asked.append(pool.submit(outage_context, tailscale, vast))
        try:
            return statuses, asked[0].result(timeout=CONTEXT_WAIT_SECONDS)
        except TimeoutError:
            return statuses, late_context(CONTEXT_WAIT_SECONDS)
    finally:
        checks.shutdown(wait=False, cancel_futures=True)
        pool.shutdown(wait=False, cancel_futures=True)


@dg.op(
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10),
    description="vLLM and Ollama, each after the cold-start wait and retry; every check kept, an outage opened "
    "(and announced once) after N failed checks in a row, closed (and announced) by the first good one.",
)
def check_endpoints(
    context: dg.OpExecutionContext,
    database: AnalyticsDatabase,
    endpoints: InferenceEndpoints,
    tailscale: TailscaleResource,
    vast: VastAIResource,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.Output[None]:
    """Every check is kept in `vast_pipelines.endpoint_probes`; an open outage is a row in
    `vast_pipelines.incidents` per endpoint, claimed once, so a long outage (or a retried op) announces once."""
    tz, limits = zone_and_limits(settings)
    statuses, gathered = check_with_context(endpoints, tailscale, vast)
    lines = [watch(context, database, slack, email, status, gathered, limits, tz) for status in statuses]
    return dg.Output(
        None,
        metadata={
            "summary": "; ".join(lines),
            **{f"{status.name.lower()}_online": status.online for status in statuses},
        },
    )


@dg.job(
    name="endpoint_check",
    description="The guide's Service Down check of vLLM and Ollama, requested every 5 min by endpoint_down_sensor.",
)
def endpoint_check():
    check_endpoints()


@dg.sensor(
    name="endpoint_down_sensor",
    job=endpoint_check,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The guide's Service Down: every 5 min an endpoint_check run checks vLLM and Ollama (with the "
    "cold-start wait and retry); after N failed checks in a row (outage_checks, default 2) an incident opens for "
    "that endpoint and #incidents and #platform-alerts hear it once, with Tailscale and the Vast.ai workers; once "
    "more when it answers again.",
)
def endpoint_down_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest:
    """The tick only decides that a check is due (one per 5-minute slot, by run key); probing, waiting for a cold
    start and alerting happen in the run, where they cannot hit the sensor timeout."""
    now = clock.now()
    slot = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    return dg.RunRequest(run_key=f"endpoint-check:{slot:%Y-%m-%dT%H:%M}")


def watch(
    context: dg.OpExecutionContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    status: EndpointStatus,
    gathered: dict[str, Any] | None,
    limits: Thresholds,
    tz: ZoneInfo,
) -> str:
    """Keep one endpoint's check and open or close its own outage; what happened, in one line."""
    recent, open_id = database.incidents.record_probe(
        endpoint=status.name,
        checked_at=clock.now(),
        online=status.online,
        attempts=status.attempts,
        failure=status.failure.value if status.failure else None,
        detail=status.detail,
        keep=max(limits.outage_checks, 1),
    )
    action = outage_action([online for online, _ in recent], limits.outage_checks, open_id is not None)
    line = check_line(status)
    context.log.info(line)
    outcome = None
    if action is OutageAction.OPEN:
        since = down_since(recent) or clock.now()
        checks = max(limits.outage_checks, 1)
        outcome = announce_outage(database, slack, email, status, gathered or {}, since, checks, tz)
    elif action is OutageAction.RECOVER:
        outcome = announce_recovery(database, slack, email, status, tz)
    elif open_id is not None:
        outcome = still_open_line(open_id)
    return watch_line(line, outcome)


def announce_outage(
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    status: EndpointStatus,
    gathered: dict[str, Any],
    since: datetime,
    checks: int,
    tz: ZoneInfo,
) -> str:
    """Open the outage (once, whoever claims it first) and post it to #incidents and #platform-alerts."""
    incident_id = database.incidents.open_outage(
        endpoint=status.name,
        summary=outage_summary(status),
        figures={"down_since": since.isoformat(), "url": status.url, "checks": checks},
        context=gathered,
    )
    if incident_id is None:
        return opened_line(None)
    message = outage_opened(
        status,
        checks=checks,
        since=since,
        tz=tz,
        tailscale=gathered.get("tailscale", "unknown"),
        vast_lines=tuple(gathered.get("vast", ())),
        incident_id=incident_id,
        mention=slack.oncall_mention,
    )
    alert(
        database,
        slack,
        email,
        message,
        kind="service_down",
        dedupe_key=f"outage:{incident_id}:open",
        extra_channels=(slack.incidents_channel,),
    )
    return opened_line(incident_id)


def announce_recovery(
    database: AnalyticsDatabase, slack: SlackResource, email: EmailResource, status: EndpointStatus, tz: ZoneInfo
) -> str:
    """Close the open outage (once) and say so where it was announced."""
    closed = database.incidents.close_outage(
        endpoint=status.name, state={"models": list(status.models), "latency_ms": status.latency_ms}
    )
    if closed is None:
        return closed_line(None)
    now = clock.now()
    since_text = (closed["figures"] or {}).get("down_since")
    since = datetime.fromisoformat(since_text) if since_text else closed["opened_at"]
    message = outage_recovered(status, incident_id=closed["id"], since=since, now=now, tz=tz)
    alert(
        database,
        slack,
        email,
        message,
        kind="service_recovered",
        dedupe_key=f"outage:{closed['id']}:recovered",
        extra_channels=(slack.incidents_channel,),
    )
    return closed_line(closed["id"])
