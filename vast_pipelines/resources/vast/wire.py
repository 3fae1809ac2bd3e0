"""What goes over the wire to Vast.ai: the official client's request bodies, and its answers read as the official
client reads them, credentials removed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vast_pipelines.domain.numbers import float_or_none, int_or_none
from vast_pipelines.resources.vast.transport import VastAIError

# Fields that are credentials in Vast.ai's answers: dropped before anything is kept or shown.
SECRET_FIELDS = frozenset({"api_key", "endpoint_api_key", "token", "auth_token"})


# Body keys of the official client's calls (vastai 1.9.1, vastai/api/endpoints.py). It sends every key, unset
# ones as null; Vast.ai leaves a field given as null as it is.
ME = {"client_id": "me"}
ENDPOINT_CREATE_KEYS = (
    "min_load",
    "min_cold_load",
    "target_util",
    "cold_mult",
    "cold_workers",
    "max_workers",
    "endpoint_name",
    "max_queue_time",
    "target_queue_time",
    "inactivity_timeout",
    "autoscaler_instance",
)
ENDPOINT_UPDATE_KEYS = (*ENDPOINT_CREATE_KEYS, "endpoint_state")
WORKERGROUP_CREATE_KEYS = (
    "template_hash",
    "template_id",
    "search_params",
    "launch_args",
    "gpu_ram",
    "endpoint_name",
    "endpoint_id",
    "autoscaler_instance",
)
# An update sends a create's keys but the autoscaler instance.
WORKERGROUP_UPDATE_KEYS = tuple(k for k in WORKERGROUP_CREATE_KEYS if k != "autoscaler_instance")
# The official client always sends its default autoscaler instance.
AUTOSCALER_INSTANCE = "prod"


def _official_body(keys: tuple[str, ...], fields: dict[str, Any], what: str, **ids: Any) -> dict[str, Any]:
    """An official-client body: ``client_id``, the ids, then every key (``None`` when not given)."""
    unknown = sorted(set(fields) - set(keys))
    if unknown:
        raise ValueError(f"{what} has no field {', '.join(unknown)}; Vast.ai's fields: {', '.join(keys)}")
    body: dict[str, Any] = {**ME, **ids}
    for key in keys:
        body[key] = fields.get(key)
    if "autoscaler_instance" in keys and body["autoscaler_instance"] is None:
        body["autoscaler_instance"] = AUTOSCALER_INSTANCE
    return body


def endpoint_create_body(fields: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/v0/endptjobs/`` as ``vastai create endpoint`` sends it."""
    return _official_body(ENDPOINT_CREATE_KEYS, fields, "an endpoint")


def endpoint_update_body(endpoint_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """``PUT /api/v0/endptjobs/{id}/`` as ``vastai update endpoint ID`` sends it: every field, unset ones null."""
    return _official_body(ENDPOINT_UPDATE_KEYS, fields, "an endpoint update", endptjob_id=endpoint_id)


def workergroup_create_body(fields: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/v0/workergroups/`` with the body of ``vastai create workergroup``."""
    return _official_body(WORKERGROUP_CREATE_KEYS, fields, "a worker group")


def workergroup_update_body(group_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """``PUT /api/v0/workergroups/{id}/`` with the body of ``vastai update workergroup ID``."""
    return _official_body(WORKERGROUP_UPDATE_KEYS, fields, "a worker group update", autojob_id=group_id)


@dataclass(frozen=True)
class VastEndpoint:
    """A serverless endpoint (the guide's "worker"), without its credentials."""

    id: int
    name: str
    state: str
    cold_workers: int | None = None
    max_workers: int | None = None
    inactivity_timeout: int | None = None
    min_load: float | None = None
    target_util: float | None = None
    cold_mult: float | None = None
    min_cold_load: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RouteResult:
    """The autoscaler's answer to ``POST /route/``: a ready worker's URL, or why there is none yet."""

    url: str | None
    status: str
    request_idx: int | None = None


@dataclass(frozen=True)
class VastWorker:
    """A live GPU worker behind an endpoint, as the autoscaler reports it."""

    id: int | str
    status: str
    cur_load: float | None = None
    measured_perf: float | None = None
    gpu_name: str | None = None


@dataclass(frozen=True)
class AccountCredit:
    """The account's money as ``vastai show user`` reads it from ``GET /api/v0/users/current``."""

    credit: float
    balance: float | None = None


def scrub(value: Any) -> Any:
    """``value`` with every credential field removed, recursively."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def read_endpoint(row: dict[str, Any]) -> VastEndpoint:
    """An endpoint row of ``GET /api/v0/endptjobs/``, credentials removed (a row without ``id`` raises)."""
    return VastEndpoint(
        id=int(row["id"]),
        name=str(row.get("endpoint_name") or row.get("name") or row["id"]),
        state=str(row.get("endpoint_state") or "unknown"),
        cold_workers=row.get("cold_workers"),
        max_workers=row.get("max_workers"),
        inactivity_timeout=row.get("inactivity_timeout"),
        min_load=row.get("min_load"),
        target_util=row.get("target_util"),
        cold_mult=row.get("cold_mult"),
        min_cold_load=row.get("min_cold_load"),
        raw=scrub(row),
    )


def read_workers(body: Any, what: str) -> list[VastWorker]:
    """An autoscaler's worker list, as ``vastai get endpt-workers`` reads it: a list, or ``{"workers": [...]}``;
    an error comes as ``{"error"|"error_msg": ...}``."""
    if isinstance(body, dict) and not isinstance(body.get("workers"), list):
        message = body.get("error_msg") or body.get("error") or body.get("msg")
        raise VastAIError(
            f"Vast.ai {what} answered " + (f"an error: {message}" if message else f"{shape(body)}, not a worker list")
        )
    rows = body if isinstance(body, list) else body["workers"]
    return [
        VastWorker(
            id=row.get("id", "?"),
            status=str(row.get("status", "unknown")),
            cur_load=float_or_none(row.get("cur_load")),
            measured_perf=float_or_none(row.get("measured_perf")),
            gpu_name=row.get("gpu_name"),
        )
        for row in rows
        if isinstance(row, dict)
    ]


def read_route(body: Any, what: str) -> RouteResult:
    """The autoscaler's answer to ``POST /route/``: without ``url``, no worker is ready yet."""
    if not isinstance(body, dict):
        raise VastAIError(f"Vast.ai {what} answered with {type(body).__name__}, not an object")
    url = body.get("url")
    status = str(body.get("status") or body.get("msg") or body.get("error") or ("ready" if url else "waiting"))
    idx = body.get("request_idx")
    return RouteResult(url=str(url).rstrip("/") if url else None, status=status, request_idx=int_or_none(idx))


def read_credit(body: Any, what: str) -> AccountCredit:
    """The user of ``GET /api/v0/users/current`` as ``vastai show user`` reads its credit and balance."""
    if not isinstance(body, dict) or not isinstance(body.get("credit"), (int, float)):
        raise VastAIError(f"Vast.ai {what} answered {shape(scrub(body))}, not a user with a numeric credit")
    balance = body.get("balance")
    return AccountCredit(
        credit=float(body["credit"]), balance=float(balance) if isinstance(balance, (int, float)) else None
    )


def shape(body: Any) -> str:
    if isinstance(body, dict):
        return f"an object with {', '.join(sorted(map(str, body))[:8]) or 'no keys'}"
    if isinstance(body, list):
        return f"a list of {len(body)}"
    return type(body).__name__


def created_id(body: Any, what: str) -> int:
    """The id a create answers with: ``{"success": true, "result": ID}`` (REST reference; the serverless client
    also reads ``id`` for a worker group)."""
    value = body.get("result", body.get("id")) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise VastAIError(f"Vast.ai {what} answered {shape(body)} without the new id in result")
    return int(value)


def results(body: Any, what: str = "a list call") -> list[dict[str, Any]]:
    """The rows of a list answer, read as the official client reads them: ``{"success": true, "results": [...]}``."""
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return body["results"]
    raise VastAIError(f'Vast.ai {what} answered {shape(body)}, not {{"success": true, "results": [...]}}')
