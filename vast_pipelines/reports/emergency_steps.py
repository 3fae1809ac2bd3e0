"""What each step of the emergency shutdown and the restore says: its summary, details and errors per endpoint,
the router switch and restart, and the notice to on-call."""

from __future__ import annotations

from collections.abc import Sequence

from vast_pipelines.domain.emergency import NOT_CONFIGURED, EndpointMove, Move, ShutdownMode, StepResult
from vast_pipelines.policy.emergency import after_shutdown
from vast_pipelines.policy.health import EndpointStatus
from vast_pipelines.reports.health import offline_actions

NOTIFY_STEP = "Notify on-call"
RESTART_STEP = "Restart agent-router"


def switch_step_name(value: str) -> str:
    """The router switch step's name: ``Set USE_VASTAI=false``."""
    return f"Set USE_VASTAI={value}"


def failed_step(step: str, error: str) -> StepResult:
    """A step that raised an error worded for operators."""
    return StepResult(step, False, "failed", error=error)


def crashed_step(step: str, exc: BaseException) -> StepResult:
    """A step that raised something unexpected (a bug, an unexpected answer)."""
    return StepResult(step, False, "failed unexpectedly", error=f"{type(exc).__name__}: {exc}")


def details_markdown(result: StepResult) -> str:
    """The step's details as Markdown bullets, for the UI."""
    return "\n".join(f"- {d}" for d in result.details)


def calls_markdown(result: StepResult) -> str:
    """The calls a dry run would have made, as Markdown bullets of code, for the UI."""
    return "\n".join(f"- `{call}`" for call in result.planned)


def _name(endpoint: dict) -> str:
    return f"{endpoint['name']} (id {endpoint['id']})"


def listing_step(
    step: str, names: Sequence[str], endpoints: Sequence[dict], malformed: Sequence[str], missing: Sequence[str]
) -> StepResult:
    """The platform's endpoints as listed, and any named one the account does not have or lists without an id."""
    scope = f"named in VAST_ENDPOINTS ({', '.join(names)})" if names else "every endpoint (VAST_ENDPOINTS unset)"
    errors = []
    if missing:
        errors.append(f"not on the account: {', '.join(missing)}; check VAST_ENDPOINTS")
    if malformed:
        # The others are still stopped; these cannot be, without an id: by hand on https://cloud.vast.ai/serverless/
        errors.append(f"cannot be stopped (no id in Vast.ai's list): {', '.join(malformed)}; stop them by hand")
    return StepResult(
        step,
        not errors,
        f"{len(endpoints)} endpoint(s), {scope}",
        details=tuple(f"{e['name']} (id {e['id']}): {e['state']}" for e in endpoints),
        error="; ".join(errors) or None,
        state={"endpoints": list(endpoints)},
    )


def planned_listing_step(step: str, names: Sequence[str], call: str) -> StepResult:
    """A dry run without VAST_API_KEY: the listing it would make, and the endpoints it knows by name."""
    scope = (
        f"the endpoints named in VAST_ENDPOINTS ({', '.join(names)})"
        if names
        else "every endpoint of the account (VAST_ENDPOINTS unset)"
    )
    return StepResult(
        step,
        True,
        f"would list {scope}; not configured: VAST_API_KEY is not set",
        planned=(call,),
        warning="VAST_API_KEY is not set: set it before VAST_EMERGENCY_ACTIONS=apply",
        state={
            "endpoints": [{"id": None, "name": name, "state": "unknown"} for name in names],
            NOT_CONFIGURED: "VAST_API_KEY",
        },
    )


def not_listed_step(step: str) -> StepResult:
    """The shutdown could not start: no listing to work from."""
    return StepResult(step, False, "not attempted: the endpoints could not be listed (see above)")


def _shutdown_detail(m: EndpointMove) -> str:
    if m.move is Move.ALREADY:
        return f"{_name(m.endpoint)}: already stopped"
    if m.move is Move.DELETE:
        return f"{_name(m.endpoint)}: {'already gone' if m.gone else 'deleted'}"
    return f"{_name(m.endpoint)}: {'gone meanwhile (nothing left to stop)' if m.gone else 'stopped'}"


def shutdown_step(step: str, moves: Sequence[EndpointMove], mode: ShutdownMode) -> StepResult:
    """Each endpoint stopped (or deleted), already stopped, planned (a dry run) or failed, and the state after."""
    delete = mode is ShutdownMode.DELETE
    details = [_shutdown_detail(m) for m in moves if m.planned is None and m.error is None]
    planned = [m.planned for m in moves if m.planned is not None]
    errors = [f"{_name(m.endpoint)}: {m.error}" for m in moves if m.error is not None]
    after = after_shutdown(moves, mode)
    verb = "delete" if delete else "stop"
    if errors:
        summary = f"{len(errors)} of {len(after)} endpoint(s) could not be {verb}{'d' if delete else 'ped'}"
    elif planned:
        summary = f"would {verb} {len(planned)} endpoint(s)"
    else:
        summary = f"{len(after)} endpoint(s) {'deleted' if delete else 'stopped'}" if after else "no endpoint to stop"
    return StepResult(
        step,
        not errors,
        summary,
        details=tuple(details),
        planned=tuple(planned),
        error="; ".join(errors) or None,
        state={"after": after, "mode": mode.value},
    )


def planned_shutdown_step(step: str, listing: StepResult, mode: ShutdownMode, planned: Sequence[str]) -> StepResult:
    """The stop (or delete) calls a dry run without VAST_API_KEY would make, by endpoint name."""
    names = [e["name"] for e in listing.state["endpoints"]]
    verb = "delete" if mode is ShutdownMode.DELETE else "stop"
    what = f"{len(names)} endpoint(s)" if names else "every endpoint named in VAST_ENDPOINTS"
    return StepResult(
        step,
        True,
        f"would {verb} {what}; not configured: VAST_API_KEY is not set",
        planned=tuple(planned),
        warning=listing.warning,
        state={"after": listing.state["endpoints"], "mode": mode.value, NOT_CONFIGURED: "VAST_API_KEY"},
    )


def planned_targets(names: Sequence[str], path: str) -> list[tuple[str, str]]:
    """``(prefix, path)`` of each call a dry run without ids would make: by name, or one for every endpoint."""
    return [(f"{name}: ", f"{path}{{id of {name}}}/") for name in names] or [
        ("every endpoint named in VAST_ENDPOINTS (unset: every endpoint of the account): ", f"{path}{{id}}/")
    ]


def _resume_detail(m: EndpointMove) -> str:
    if m.move is Move.ALREADY:
        return f"{_name(m.endpoint)}: already {m.endpoint['state']}"
    if m.move is Move.LEAVE:
        return f"{_name(m.endpoint)}: left stopped (it was stopped before the emergency)"
    return f"{_name(m.endpoint)}: active"


def resume_step(step: str, moves: Sequence[EndpointMove], deleted: Sequence[str]) -> StepResult:
    """Each endpoint resumed, left as it was, planned (a dry run) or failed; the deleted ones to redeploy."""
    errors = [f"deleted by the emergency: {', '.join(deleted)}; redeploy with the deploy_model job"] if deleted else []
    details = [_resume_detail(m) for m in moves if m.planned is None and m.error is None]
    planned = [m.planned for m in moves if m.planned is not None]
    errors += [f"{_name(m.endpoint)}: {m.error}" for m in moves if m.error is not None]
    summary = f"would resume {len(planned)} endpoint(s)" if planned else f"{len(details)} endpoint(s) checked"
    return StepResult(
        step, not errors, summary, tuple(details), tuple(planned), "; ".join(errors) or None, {"resumed": details}
    )


def verify_step(step: str, status: EndpointStatus) -> StepResult:
    """Whether vLLM answers, with the guide's actions when it does not."""
    if status.online:
        return StepResult(step, True, f"vLLM answers: {', '.join(status.models) or 'no models listed'}")
    reason = status.failure.value if status.failure else "unknown"
    error = f"{reason}: {status.detail}"
    return StepResult(step, False, "vLLM does not answer", details=offline_actions(status), error=error)


def close_step(step: str, closed: Sequence[int] | None, incidents: Sequence[int]) -> StepResult:
    """The incidents closed; None: left open, a step before failed; none when none was open."""
    if closed is None:
        return StepResult(step, True, "left open: the service is not verified back", state={"closed": []})
    if not incidents:
        return StepResult(step, True, "no open incident", state={"closed": []})
    return StepResult(step, True, f"closed {', '.join(f'#{i}' for i in closed)}", state={"closed": list(closed)})


def notify_result(step: str, channel: str, *, delivered: int, kept: int, lost: int, lines: Sequence[str]) -> StepResult:
    """The notice to on-call: failed when no copy was delivered or kept, a warning when none was delivered yet."""
    counts = {"delivered": delivered, "kept": kept, "lost": lost}
    summary = f"{channel} and email: {delivered} delivered, {kept} kept for retry"
    if lost:
        summary += f", {lost} lost"
    if not delivered and not kept:
        error = "no copy reached on-call and none is kept for retry: tell them by hand"
        return StepResult(step, False, summary, details=tuple(lines), error=error, state=counts)
    warning = None if delivered else "no copy reached on-call yet (kept for retry): call them"
    return StepResult(step, True, summary, details=tuple(lines), warning=warning, state=counts)


def switch_not_configured_step(step: str, value: str) -> StepResult:
    """A dry run without AGENT_ROUTER_ENV_FILE: the switch it would make."""
    return StepResult(
        step,
        True,
        f"would set USE_VASTAI={value}; not configured: AGENT_ROUTER_ENV_FILE is not set",
        planned=(f"set USE_VASTAI={value} in agent-router's .env (AGENT_ROUTER_ENV_FILE, not set)",),
        warning="AGENT_ROUTER_ENV_FILE is not set: name agent-router's .env before VAST_EMERGENCY_ACTIONS=apply",
        state={"before": None, "after": None, NOT_CONFIGURED: "AGENT_ROUTER_ENV_FILE"},
    )


def switch_planned_step(step: str, value: str, env_file: str, before: str | None, changed: bool) -> StepResult:
    """A dry run's switch: what it would change in ``env_file``, or that the value is already there."""
    planned = (f"set USE_VASTAI={value} in {env_file} (now {before})",) if changed else ()
    summary = f"would set USE_VASTAI={value}" if changed else f"USE_VASTAI is already {value}"
    return StepResult(step, True, summary, planned=planned, state={"before": before, "after": before})


def switch_done_step(step: str, value: str, before: str | None, changed: bool, backup: str | None) -> StepResult:
    """The switch made: the value before and after, and the backup of the .env."""
    summary = f"USE_VASTAI {before} → {value}" if changed else f"USE_VASTAI was already {value}"
    return StepResult(
        step,
        True,
        summary,
        details=(f"backup: {backup}",) if backup else (),
        state={"before": before, "after": value, "changed": changed, "backup": backup},
    )


def restart_not_attempted_step(step: str, switch: StepResult) -> StepResult:
    """No restart: the switch before it failed."""
    return StepResult(step, False, "not attempted: the router's .env was not switched", error=switch.error)


def restart_confirmed_step(step: str, value: str, run_id: str) -> StepResult:
    """No restart needed: a recorded restart already runs agent-router with ``value``."""
    return StepResult(
        step,
        True,
        f"no restart needed: agent-router was restarted with USE_VASTAI={value} by run {run_id}",
        state={"confirmed": value},
    )


def restart_reason(changed: bool, value: str) -> str:
    """Why agent-router is restarted."""
    return "its .env changed" if changed else f"not confirmed running with USE_VASTAI={value}"


def restart_planned_step(step: str, why: str, command: str | None) -> StepResult:
    """A dry run's restart: the command it would run."""
    command = command or "(AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand)"
    return StepResult(step, True, f"would restart agent-router ({why})", planned=(f"run: {command}",))


def restart_no_command_step(step: str, value: str) -> StepResult:
    """No restart command: the router must be restarted by hand, so the step fails."""
    return StepResult(
        step,
        False,
        "agent-router was NOT restarted",
        error=f"AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand (e.g. `docker compose "
        f"restart agent-router`) so it runs with USE_VASTAI={value}",
    )


def unconfirmed_line(error: BaseException) -> str:
    """A restart that could not be recorded as confirmed."""
    return f"not recorded as confirmed ({error}); the next run restarts it again"


def restart_done_step(step: str, why: str, command: str, value: str, details: Sequence[str]) -> StepResult:
    """agent-router restarted with ``command``."""
    return StepResult(
        step,
        True,
        f"restarted agent-router ({why}): `{command}`",
        details=tuple(details),
        state={"confirmed": value},
    )
