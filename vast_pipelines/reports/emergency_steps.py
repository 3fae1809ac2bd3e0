"""What each step of the emergency shutdown and the restore says: its summary, details and errors per endpoint."""

from __future__ import annotations

from collections.abc import Sequence

from vast_pipelines.domain.emergency import NOT_CONFIGURED, EndpointMove, Move, ShutdownMode, StepResult
from vast_pipelines.policy.emergency import after_shutdown
from vast_pipelines.policy.health import EndpointStatus
from vast_pipelines.reports.health import offline_actions


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
