"""The guide's "Service Down" in words: the outage once when it starts, once more when it is over, and the line
each check leaves in the run."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from vast_pipelines.policy.health import EndpointStatus
from vast_pipelines.reports.alerts import Message
from vast_pipelines.reports.health import offline_actions, status_label


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


def tailscale_line(state: str, detail: str) -> str:
    """Tailscale's view of the GPU host, as the outage message shows it."""
    return f"{state} ({detail})"


def late_context(seconds: float) -> dict[str, object]:
    """What the outage message says of Tailscale and Vast.ai when they did not answer within ``seconds``."""
    late = f"no answer within {seconds:g}s"
    return {"tailscale": f"unknown ({late})", "vast": [f"not known ({late})"]}


def check_line(status: EndpointStatus) -> str:
    """One endpoint check in one line: ``vLLM ONLINE after 1 attempt(s) ...``."""
    return f"{status.name} {status_label(status)} after {status.attempts} attempt(s) {status.detail}".strip()


def outage_summary(status: EndpointStatus) -> str:
    """The incident's one-line summary: what is down and why."""
    return f"{status.name} down: {status.failure.value if status.failure else 'unknown'} ({status.detail})"


def opened_line(incident_id: int | None) -> str:
    """What opening the outage did (None: another check had opened it already)."""
    return "outage already open" if incident_id is None else f"opened outage #{incident_id}"


def closed_line(incident_id: int | None) -> str:
    """What closing the outage did (None: it was closed already)."""
    return "outage already closed" if incident_id is None else f"closed outage #{incident_id}"


def still_open_line(incident_id: int) -> str:
    """An outage that stays open, announced once."""
    return f"outage #{incident_id} still open (announced once)"


def watch_line(check: str, outcome: str | None) -> str:
    """The check's line, and what it did to the outage when it did something."""
    return f"{check}; {outcome}" if outcome else check
