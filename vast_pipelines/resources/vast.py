"""Vast.ai's real serverless API, in the guide's vocabulary.

A guide "worker" is a serverless endpoint (``/api/v0/endptjobs/``) with its worker group
(``/api/v0/workergroups/``); its live GPU workers come from the autoscaler
(``POST /get_endpoint_workers/``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from vast_pipelines.resources.errors import NotConfigured, OperatorError, redact
from vast_pipelines.resources.http import RETRY_STATUSES, request_with_backoff

DEFAULT_API_URL = "https://console.vast.ai"
DEFAULT_AUTOSCALER_URL = "https://run.vast.ai"

# Fields that are credentials in Vast.ai's answers: dropped before anything is kept or shown.
SECRET_FIELDS = frozenset({"api_key", "endpoint_api_key", "token", "auth_token"})


class VastAIError(OperatorError):
    """A Vast.ai call failed; the message says which call, why, and what to check."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def uncertain(self) -> bool:
        """Whether the call may have done its work anyway (no answer, or a 5xx): read before repeating it."""
        return self.status is None or self.status >= 500


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


def scrub(value: Any) -> Any:
    """``value`` with every credential field removed, recursively."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _endpoint(row: dict[str, Any]) -> VastEndpoint:
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
        raw=scrub(row),
    )


class VastAIResource(dg.ConfigurableResource):
    """Client for Vast.ai's serverless API with bearer auth, timeouts and backoff on 429/5xx."""

    api_url: str = Field(default=DEFAULT_API_URL, description="VAST_API_URL")
    autoscaler_url: str = Field(default=DEFAULT_AUTOSCALER_URL, description="VAST_AUTOSCALER_URL")
    api_key: str | None = Field(default=None, description="VAST_API_KEY (bearer token); unset refuses every call.")
    endpoint_names: str | None = Field(
        default=None, description="VAST_ENDPOINTS: comma-separated endpoint names this platform owns; unset: all."
    )
    timeout_seconds: float = 15.0
    max_attempts: int = Field(default=5, description="Attempts per call on 429/5xx/transport errors.")
    first_backoff_seconds: float = Field(default=0.15, description="vast-cli's first back-off.")
    backoff_factor: float = 1.5
    emergency_wait_seconds: float = Field(
        default=90.0,
        description="The emergency and restore calls keep retrying 429/5xx/transport errors (honouring "
        "Retry-After) until this long was waited: a minute of rate limiting does not stop a shutdown.",
    )
    endpoints_path: str = "/api/v0/endptjobs/"
    workergroups_path: str = "/api/v0/workergroups/"
    endpoint_workers_path: str = "/get_endpoint_workers/"
    route_path: str = "/route/"
    charges_path: str = "/api/v0/charges/"

    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)

    @property
    def configured(self) -> bool:
        """Whether an API key is set."""
        return bool(self.api_key)

    def owned_names(self) -> list[str]:
        """The endpoint names from ``VAST_ENDPOINTS`` (empty: every endpoint of the account)."""
        return [n.strip() for n in (self.endpoint_names or "").split(",") if n.strip()]

    # --- calls -------------------------------------------------------------------------------

    def list_endpoints(self, *, patient: bool = False) -> list[VastEndpoint]:
        """Every serverless endpoint of the account (``GET /api/v0/endptjobs/``); a row without a usable id is
        left out (see ``list_endpoints_checked``)."""
        return self.list_endpoints_checked(patient=patient)[0]

    def list_endpoints_checked(self, *, patient: bool = False) -> tuple[list[VastEndpoint], list[str]]:
        """Every endpoint of the account, and a description of each row that is not a usable endpoint (no
        ``id``): one malformed row never hides the others."""
        body = self._call("GET", self.api_url, self.endpoints_path, patient=patient)
        endpoints, malformed = [], []
        for row in _results(body):
            try:
                endpoints.append(_endpoint(row))
            except (KeyError, TypeError, ValueError, AttributeError):
                name = row.get("endpoint_name") or row.get("name") if isinstance(row, dict) else None
                malformed.append(f"{name or 'unnamed endpoint'} (listed without a usable id)")
        return endpoints, malformed

    def platform_endpoints(self, *, patient: bool = False) -> list[VastEndpoint]:
        """The endpoints this platform owns: those named in ``VAST_ENDPOINTS``, or all."""
        return self.platform_endpoints_checked(patient=patient)[0]

    def platform_endpoints_checked(self, *, patient: bool = False) -> tuple[list[VastEndpoint], list[str]]:
        """The platform's endpoints and the malformed rows that may be the platform's (see
        ``list_endpoints_checked``)."""
        endpoints, malformed = self.list_endpoints_checked(patient=patient)
        names = self.owned_names()
        if not names:
            return endpoints, malformed
        return [e for e in endpoints if e.name in names], [m for m in malformed if m.split(" (")[0] in names]

    def endpoint_workers(self, endpoint_id: int) -> list[VastWorker]:
        """Live workers of one endpoint from the autoscaler (``POST /get_endpoint_workers/``)."""
        body = self._call("POST", self.autoscaler_url, self.endpoint_workers_path, json={"id": endpoint_id})
        rows = body if isinstance(body, list) else _results(body)
        return [
            VastWorker(id=row.get("id", "?"), status=str(row.get("status", "unknown")), cur_load=row.get("cur_load"))
            for row in rows
            if isinstance(row, dict)
        ]

    def find_endpoint(self, name_or_id: str | int) -> VastEndpoint | None:
        """The endpoint with this name or id, or None."""
        for endpoint in self.list_endpoints():
            if endpoint.name == str(name_or_id) or str(endpoint.id) == str(name_or_id):
                return endpoint
        return None

    def update_endpoint(self, endpoint_id: int, fields: dict[str, Any], *, patient: bool = False) -> None:
        """``PUT /api/v0/endptjobs/{id}/`` with only the given fields (Vast.ai updates with PUT)."""
        self._call("PUT", self.api_url, f"{self.endpoints_path}{endpoint_id}/", json=fields, patient=patient)

    def set_endpoint_state(self, endpoint_id: int, state: str, *, patient: bool = False) -> None:
        """Stop (``stopped``) or resume (``active``) an endpoint: the reversible emergency stop."""
        self.update_endpoint(endpoint_id, {"endpoint_state": state}, patient=patient)

    def stop_endpoint(self, endpoint_id: int, *, patient: bool = True) -> bool:
        """``endpoint_state`` ``stopped``; an endpoint that is gone meanwhile (404) is as good as stopped (False)."""
        try:
            self.set_endpoint_state(endpoint_id, "stopped", patient=patient)
        except VastAIError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete_endpoint(self, endpoint_id: int, *, patient: bool = False) -> bool:
        """``DELETE /api/v0/endptjobs/{id}/``; an endpoint that is already gone counts as deleted (False)."""
        try:
            self._call("DELETE", self.api_url, f"{self.endpoints_path}{endpoint_id}/", patient=patient)
        except VastAIError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def create_endpoint(self, fields: dict[str, Any]) -> int:
        """``POST /api/v0/endptjobs/``; returns the new endpoint's id.

        Never repeated blindly: after a timeout or a 5xx the endpoints are read, and an endpoint of that name
        that now exists is the one this call created.
        """
        name = fields.get("endpoint_name")

        def existing() -> int | None:
            found = [e for e in self.list_endpoints() if name and e.name == name]
            return found[0].id if found else None

        body = self._create(self.endpoints_path, fields, existing)
        return body if isinstance(body, int) else int(body.get("result") or body.get("id"))

    def list_workergroups(self) -> list[dict[str, Any]]:
        """Every worker group of the account (``GET /api/v0/workergroups/``), credentials removed."""
        return [scrub(row) for row in _results(self._call("GET", self.api_url, self.workergroups_path))]

    def create_workergroup(self, fields: dict[str, Any]) -> int:
        """``POST /api/v0/workergroups/`` (``endpoint_id``, ``template_hash`` or ``launch_args``, ...).

        Never repeated blindly: after a timeout or a 5xx the worker groups are read, and a group of that
        endpoint that now exists is the one this call created.
        """
        endpoint_id = fields.get("endpoint_id")

        def existing() -> int | None:
            found = [
                g for g in self.list_workergroups() if endpoint_id and str(g.get("endpoint_id")) == str(endpoint_id)
            ]
            return int(found[0]["id"]) if found and found[0].get("id") is not None else None

        body = self._create(self.workergroups_path, fields, existing)
        return body if isinstance(body, int) else int(body.get("result") or body.get("id"))

    def _create(self, path: str, fields: dict[str, Any], existing: Callable[[], int | None]) -> Any:
        """POST ``fields``; an uncertain failure (timeout, 5xx) is followed by a read (``existing``): what exists
        is returned (its id), and only what the read shows was not created is posted again."""
        delay = self.first_backoff_seconds
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._call("POST", self.api_url, path, json=fields, idempotent=False)
            except VastAIError as exc:
                if not exc.uncertain:
                    raise
                try:
                    found = existing()
                except VastAIError:
                    raise exc from None  # cannot tell whether it was created: never post again blind
                if found is not None:
                    return found
                if attempt == self.max_attempts:
                    raise
                self._sleep(delay)
                delay *= self.backoff_factor
        raise AssertionError("unreachable")

    def update_workergroup(self, group_id: int, fields: dict[str, Any]) -> None:
        """``PUT /api/v0/workergroups/{id}/``."""
        self._call("PUT", self.api_url, f"{self.workergroups_path}{group_id}/", json=fields)

    def delete_workergroup(self, group_id: int) -> bool:
        """``DELETE /api/v0/workergroups/{id}/``; already gone counts as deleted (False)."""
        try:
            self._call("DELETE", self.api_url, f"{self.workergroups_path}{group_id}/")
        except VastAIError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def endpoint_workergroups(self, endpoint_id: int) -> list[dict[str, Any]]:
        """The worker groups of one endpoint, credentials removed."""
        return [g for g in self.list_workergroups() if str(g.get("endpoint_id")) == str(endpoint_id)]

    def route(self, endpoint_name: str, *, request_idx: int = 0, cost: float = 0.0) -> RouteResult:
        """Ask the autoscaler for a ready worker (``POST /route/``), as Vast.ai's SDK does before each request.

        The call is authorised with the endpoint's own key, read from the account and never returned; an
        answer without ``url`` means no worker is ready yet (the autoscaler scales one up). Pass the
        returned ``request_idx`` back to keep the place in the queue.
        """
        key = self._endpoint_key(endpoint_name)
        body = self._call(
            "POST",
            self.autoscaler_url,
            self.route_path,
            json={
                "endpoint": endpoint_name,
                "api_key": key,
                "cost": cost,
                "request_idx": request_idx,
                "replay_timeout": 60.0,
            },
            bearer=key,
        )
        if not isinstance(body, dict):
            raise VastAIError(f"Vast.ai POST {self.route_path} answered with {type(body).__name__}, not an object")
        url = body.get("url")
        status = str(body.get("status") or body.get("msg") or body.get("error") or ("ready" if url else "waiting"))
        idx = body.get("request_idx")
        return RouteResult(url=str(url).rstrip("/") if url else None, status=status, request_idx=_int_or_none(idx))

    def _endpoint_key(self, endpoint_name: str) -> str:
        rows = _results(self._call("GET", self.api_url, self.endpoints_path))
        for row in rows:
            if str(row.get("endpoint_name")) == endpoint_name and row.get("api_key"):
                return str(row["api_key"])
        raise VastAIError(
            f"Vast.ai lists no endpoint named {endpoint_name!r} with a key to route requests with; "
            "check the name on https://cloud.vast.ai/serverless/"
        )

    def daily_charges(self, start: date, end: date, charge_type: str = "serverless") -> dict[date, float]:
        """USD billed per UTC day in ``[start, end)`` for ``charge_type`` (``GET /api/v0/charges/``).

        Rows are read leniently (``day``/``date``/``start`` as ISO date or epoch seconds; ``amount``/``cost``/
        ``total``; ``type``), because the endpoint's row shape is not documented; rows of other types are ignored.
        """
        params = {
            "start": int(datetime.combine(start, datetime.min.time(), UTC).timestamp()),
            "end": int(datetime.combine(end, datetime.min.time(), UTC).timestamp()),
        }
        body = self._call("GET", self.api_url, self.charges_path, params=params)
        totals: dict[date, float] = {}
        for row in _results(body):
            kind = str(row.get("type") or row.get("charge_type") or charge_type).lower()
            if charge_type not in kind:
                continue
            day = _charge_day(row.get("day") or row.get("date") or row.get("start"))
            amount = row.get("amount", row.get("cost", row.get("total")))
            if day is None or amount is None or not (start <= day < end):
                continue
            totals[day] = totals.get(day, 0.0) + float(amount)
        return totals

    def describe_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> str:
        """The exact call a dry run would make, for logs and reports (no credentials)."""
        host = self.api_url.rstrip("/")
        return f"{method} {host}{path}" + (f" {json.dumps(body, sort_keys=True)}" if body else "")

    # --- transport ---------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        host: str,
        path: str,
        *,
        bearer: str | None = None,
        patient: bool = False,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One call with back-off. ``patient`` (the emergency and restore calls) keeps retrying until
        ``emergency_wait_seconds`` was waited; ``idempotent=False`` (creates) retries only a 429."""
        if not self.api_key:
            raise NotConfigured(
                f"VAST_API_KEY is not set, so the Vast.ai call {method} {path} was refused. "
                'Set VAST_API_KEY (1Password: "Vast.ai API Key") in the environment or .env.'
            )
        url = host.rstrip("/") + path
        what = f"{method} {path}"
        headers = {"Authorization": f"Bearer {bearer or self.api_key}", "Accept": "application/json"}
        try:
            with httpx.Client(timeout=self.timeout_seconds) as client:
                response = request_with_backoff(
                    client,
                    method,
                    url,
                    attempts=self.max_attempts,
                    first_delay=self.first_backoff_seconds,
                    factor=self.backoff_factor,
                    sleep=self._sleep,
                    retry_errors=idempotent,
                    max_wait_seconds=self.emergency_wait_seconds if patient else 0.0,
                    headers=headers,
                    **kwargs,
                )
        except httpx.TransportError as exc:
            raise VastAIError(
                f"Vast.ai {what} failed {self._tries(patient, idempotent)}: {type(exc).__name__} reaching "
                f"{host}. Check VAST_API_URL/VAST_AUTOSCALER_URL and the network."
            ) from None
        return self._body(response, what, bearer, tries=self._tries(patient, idempotent))

    def _tries(self, patient: bool, idempotent: bool) -> str:
        if not idempotent:
            return "on its only attempt (a create is not repeated blindly)"
        if patient:
            return f"after at least {self.max_attempts} attempts over {self.emergency_wait_seconds:g}s with back-off"
        return f"after {self.max_attempts} attempts"

    def _body(self, response: httpx.Response, what: str, bearer: str | None = None, tries: str = "") -> Any:
        status = response.status_code
        snippet = redact(response.text[:200].replace("\n", " "), self.api_key, bearer)
        if status in (401, 403):
            whose = "the endpoint's own key (read with VAST_API_KEY from the account)" if bearer else "the API key"
            raise VastAIError(
                f"Vast.ai rejected {whose} for {what} (HTTP {status}): check that VAST_API_KEY is current "
                "and allowed to manage serverless endpoints.",
                status,
            )
        if status in RETRY_STATUSES:
            raise VastAIError(
                f"Vast.ai {what} still answered HTTP {status} {tries or 'after retries'} with back-off"
                f"{' (rate limited)' if status == 429 else ''}; try again later. Body: {snippet}",
                status,
            )
        try:
            body = response.json()
        except ValueError:
            raise VastAIError(
                f"Vast.ai {what} answered HTTP {status} with non-JSON "
                f"({response.headers.get('content-type', 'no content type')}): {snippet}",
                status,
            ) from None
        if status >= 400 or (isinstance(body, dict) and body.get("success") is False):
            message = body.get("msg") or body.get("error") or body.get("detail") if isinstance(body, dict) else None
            raise VastAIError(
                f"Vast.ai {what} failed (HTTP {status}): {redact(str(message or snippet), self.api_key, bearer)}",
                status,
            )
        return body


def _charge_day(value: Any) -> date | None:
    """A charge row's day from an ISO date/datetime string or epoch seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _results(body: Any) -> list[dict[str, Any]]:
    """The row list of a Vast.ai answer: ``{"results": [...]}`` or a bare list."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("results", "endpoints", "workers"):
            if isinstance(body.get(key), list):
                return body[key]
    shape = sorted(body)[:8] if isinstance(body, dict) else type(body).__name__
    raise VastAIError(f"Vast.ai answered with an unexpected shape ({shape})")
