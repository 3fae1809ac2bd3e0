"""The guide's "Service Down" messages: the outage once when it starts, once more when it is over."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from vast_pipelines.policy.health import EndpointStatus
from vast_pipelines.reports.alerts import Message
from vast_pipelines.reports.health import offline_actions


def outage_opened(
    status: EndpointStatus,
    *,
    checks: int,
    since: datetime,
    tz: ZoneInfo,
    tailscale: str,
    vast_lines: tuple[str, ...],
    incident_id: int,
    mention: str,
) -> Message:
    """The outage: what failed, Tailscale and the Vast.ai workers, and the guide's immediate actions."""
    reason = status.failure.value if status.failure else "unknown"
    lines = [
        f":red_circle: {mention} *{status.name} is down* ({status.url}): {checks} checks in a row failed, each "
        f"after the cold-start wait and retry ({reason}: {status.detail}). Incident #{incident_id}, "
        f"since {since.astimezone(tz):%Y-%m-%d %H:%M %Z}.",
        f"Tailscale: {tailscale}",
        "Vast.ai serverless endpoints:",
        *(f"    {line}" for line in vast_lines),
        "Immediate actions (Service Down):",
        "• Fallback: agent-router falls back to NAS CPU, then OpenAI; verify it in the agent-router logs.",
        "• Notify users if it impacts them: post in #incidents, update the status page.",
        *(f"• {action}" for action in offline_actions(status)),
        "• Restore: restart the worker if it crashed, redeploy if needed, update DNS if the IP changed.",
        "A message follows when it answers again.",
    ]
    subject = f"[vast_pipelines] {status.name} down (incident #{incident_id})"
    return Message(subject, "\n".join(lines))


def outage_recovered(
    status: EndpointStatus, *, incident_id: int, since: datetime, now: datetime, tz: ZoneInfo
) -> Message:
    """Back online: how long it was down (since its first failed check), and the guide's post-mortem."""
    minutes = max((now - since).total_seconds() / 60.0, 0.0)
    models = ", ".join(status.models) or "no models listed"
    lines = [
        f":white_check_mark: *{status.name} is back* ({status.url}): answering again with {models}. "
        f"Incident #{incident_id} resolved after {minutes:.0f} min "
        f"(down since {since.astimezone(tz):%Y-%m-%d %H:%M %Z}).",
        "Post-mortem: document the incident, identify preventions, update the runbook.",
    ]
    return Message(f"[vast_pipelines] {status.name} recovered (incident #{incident_id})", "\n".join(lines))
