"""Vast.ai's real serverless API, called as Vast.ai's official client (``vastai`` on PyPI) calls it.

A guide "worker" is a serverless endpoint (``/api/v0/endptjobs/``) with its worker group
(``/api/v0/workergroups/``); its live GPU workers come from the autoscaler
(``POST /get_endpoint_workers/``). Every request has the official client's method, path, query and JSON body
keys for the same operation (``vastai_conformance`` test), except where Vast.ai's REST reference documents
otherwise; each such place says so.
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
        min_cold_load=row.get("min_cold_load"),
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
    user_path: str = "/api/v0/users/current"

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
        """Every serverless endpoint of the account (``GET /api/v0/endptjobs/``, as ``vastai show endpoints``); a
        row without a usable id is left out (see ``list_endpoints_checked``)."""
        return self.list_endpoints_checked(patient=patient)[0]

    def _endpoint_rows(self, *, patient: bool = False) -> list[dict[str, Any]]:
        body = self._call("GET", self.api_url, self.endpoints_path, json=self._list_body(), patient=patient)
        return _results(body, f"GET {self.endpoints_path}")

    def _list_body(self) -> dict[str, Any]:
        # The official client sends a JSON body with its list GETs: client_id and the account key.
        return {**ME, "api_key": self.api_key}

    def list_endpoints_checked(self, *, patient: bool = False) -> tuple[list[VastEndpoint], list[str]]:
        """Every endpoint of the account, and a description of each row that is not a usable endpoint (no
        ``id``): one malformed row never hides the others."""
        endpoints, malformed = [], []
        for row in self._endpoint_rows(patient=patient):
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
        # vastai get endpt-workers reads a list, or {"workers": [...]}; an error comes as {"error"|"error_msg": ...}.
        if isinstance(body, dict) and not isinstance(body.get("workers"), list):
            message = body.get("error_msg") or body.get("error") or body.get("msg")
            shape = f"an object with {', '.join(sorted(body)[:8]) or 'no keys'}"
            raise VastAIError(
                f"Vast.ai POST {self.endpoint_workers_path} for endpoint {endpoint_id} answered "
                + (f"an error: {message}" if message else f"{shape}, not a worker list")
            )
        rows = body if isinstance(body, list) else body["workers"]
        return [
            VastWorker(
                id=row.get("id", "?"),
                status=str(row.get("status", "unknown")),
                cur_load=_float_or_none(row.get("cur_load")),
                measured_perf=_float_or_none(row.get("measured_perf")),
                gpu_name=row.get("gpu_name"),
            )
            for row in rows
            if isinstance(row, dict)
        ]

    def worker_perf(self, endpoint_id: int) -> float | None:
        """The highest ``measured_perf`` among the endpoint's workers (perf units/s), or None if none reports one."""
        perfs = [w.measured_perf for w in self.endpoint_workers(endpoint_id) if w.measured_perf]
        return max(perfs) if perfs else None

    def find_endpoint(self, name_or_id: str | int) -> VastEndpoint | None:
        """The endpoint with this name or id, or None."""
        for endpoint in self.list_endpoints():
            if endpoint.name == str(name_or_id) or str(endpoint.id) == str(name_or_id):
                return endpoint
        return None

    def update_endpoint(self, endpoint_id: int, fields: dict[str, Any], *, patient: bool = False) -> None:
        """``PUT /api/v0/endptjobs/{id}/`` as ``vastai update endpoint``: the given fields, every other one null."""
        body = endpoint_update_body(endpoint_id, fields)
        self._call("PUT", self.api_url, f"{self.endpoints_path}{endpoint_id}/", json=body, patient=patient)

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
            body = {**ME, "endptjob_id": endpoint_id}
            self._call("DELETE", self.api_url, f"{self.endpoints_path}{endpoint_id}/", json=body, patient=patient)
        except VastAIError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def create_endpoint(self, fields: dict[str, Any]) -> int:
        """``POST /api/v0/endptjobs/`` as ``vastai create endpoint``; returns the new endpoint's id.

        Never repeated blindly: after a timeout or a 5xx the endpoints are read, and an endpoint of that name
        that now exists is the one this call created.
        """
        name = fields.get("endpoint_name")

        def existing() -> int | None:
            found = [e for e in self.list_endpoints() if name and e.name == name]
            return found[0].id if found else None

        return self._create(self.endpoints_path, endpoint_create_body(fields), existing)

    # Worker groups: the official CLI/SDK (vastai 1.9.1) call /api/v0/autojobs/; Vast.ai's REST reference
    # ("show/create/update/delete workergroup") documents /api/v0/workergroups/, which the same package's
    # serverless client also calls. The docs win: the path is /api/v0/workergroups/, the bodies are the CLI's.

    def list_workergroups(self) -> list[dict[str, Any]]:
        """Every worker group of the account (``GET /api/v0/workergroups/``, as ``vastai show workergroups``),
        credentials removed."""
        body = self._call("GET", self.api_url, self.workergroups_path, json=self._list_body())
        return [scrub(row) for row in _results(body, f"GET {self.workergroups_path}")]

    def create_workergroup(self, fields: dict[str, Any]) -> int:
        """``POST /api/v0/workergroups/`` (``endpoint_id``, ``template_hash`` or ``launch_args``, ``search_params``).

        Never repeated blindly: after a timeout or a 5xx the worker groups are read, and a group of that
        endpoint that now exists is the one this call created.
        """
        endpoint_id = fields.get("endpoint_id")

        def existing() -> int | None:
            found = [
                g for g in self.list_workergroups() if endpoint_id and str(g.get("endpoint_id")) == str(endpoint_id)
            ]
            return int(found[0]["id"]) if found and found[0].get("id") is not None else None

        return self._create(self.workergroups_path, workergroup_create_body(fields), existing)

    def _create(self, path: str, body: dict[str, Any], existing: Callable[[], int | None]) -> int:
        """POST ``body``; returns the new id. An uncertain failure (timeout, 5xx) is followed by a read
        (``existing``): what exists is returned (its id), and only what the read shows was not created is posted
        again."""
        delay = self.first_backoff_seconds
        for attempt in range(1, self.max_attempts + 1):
            try:
                answer = self._call("POST", self.api_url, path, json=body, idempotent=False)
                return _created_id(answer, f"POST {path}")
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
        """``PUT /api/v0/workergroups/{id}/`` with the body of ``vastai update workergroup``."""
        self._call(
            "PUT", self.api_url, f"{self.workergroups_path}{group_id}/", json=workergroup_update_body(group_id, fields)
        )

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
        for row in self._endpoint_rows():
            if str(row.get("endpoint_name")) == endpoint_name and row.get("api_key"):
                return str(row["api_key"])
        raise VastAIError(
            f"Vast.ai lists no endpoint named {endpoint_name!r} with a key to route requests with; "
            "check the name on https://cloud.vast.ai/serverless/"
        )

    def daily_charges(self, start: date, end: date, charge_type: str = "serverless") -> dict[date, float]:
        """USD billed per UTC day in ``[start, end)`` for ``charge_type`` (``GET /api/v0/charges/``).

        Asked as ``vastai show invoices-v1 --charges -ct serverless`` asks: ``select_filters`` on ``day`` (unix
        seconds, gte/lte) and ``type``, pages of 100 followed by ``next_token``. A row is one contract's charges
        over the asked days (its ``start``/``end`` are the contract's, which can span several days: Vast.ai's
        "show charges" reference), so each UTC day is asked on its own and its rows' ``amount`` summed. A row
        or answer of another shape is an error that says what came.
        """
        totals: dict[date, float] = {}
        day = start
        while day < end:
            first = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
            amount = self._charges_between(first, first + 86_399, charge_type)
            if amount is not None:
                totals[day] = amount
            day = date.fromordinal(day.toordinal() + 1)
        return totals

    def _charges_between(self, first: int, last: int, charge_type: str) -> float | None:
        """The sum of ``charge_type`` charges between two unix seconds (inclusive), or None without any row."""
        query: dict[str, Any] = {
            "select_filters": {"day": {"gte": first, "lte": last}, "type": {"in": [charge_type]}},
            "latest_first": False,
            "limit": CHARGES_PAGE,
            "format": "table",
        }
        what = f"GET {self.charges_path}"
        total: float | None = None
        for _page in range(MAX_CHARGE_PAGES):
            body = self._call("GET", self.api_url, self.charges_path, params=_query(query))
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise VastAIError(f'Vast.ai {what} answered {_shape(body)}, not {{"results": [...]}}')
            for row in body["results"]:
                kind, amount = _charge_row(row, what)
                if kind == charge_type:
                    total = (total or 0.0) + amount
            token = body.get("next_token")
            if not token:
                return total
            query["after_token"] = token
        raise VastAIError(f"Vast.ai {what} still had pages after {MAX_CHARGE_PAGES} of {CHARGES_PAGE} rows")

    def account_credit(self) -> AccountCredit:
        """The account's credit (USD) and balance from ``GET /api/v0/users/current``, read as ``vastai show user``."""
        body = self._call("GET", self.api_url, self.user_path)
        what = f"GET {self.user_path}"
        if not isinstance(body, dict) or not isinstance(body.get("credit"), (int, float)):
            raise VastAIError(f"Vast.ai {what} answered {_shape(scrub(body))}, not a user with a numeric credit")
        balance = body.get("balance")
        return AccountCredit(
            credit=float(body["credit"]), balance=float(balance) if isinstance(balance, (int, float)) else None
        )

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


CHARGES_PAGE = 100  # the official client's (and the API's) largest page
MAX_CHARGE_PAGES = 50


def _query(args: dict[str, Any]) -> dict[str, str]:
    """Query arguments as the official client writes them: strings as they are, anything else as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}


def _shape(body: Any) -> str:
    if isinstance(body, dict):
        return f"an object with {', '.join(sorted(map(str, body))[:8]) or 'no keys'}"
    if isinstance(body, list):
        return f"a list of {len(body)}"
    return type(body).__name__


def _charge_row(row: Any, what: str) -> tuple[str, float]:
    """A charge row's type and amount (USD), as the official client reads them."""
    if not isinstance(row, dict):
        raise VastAIError(f"Vast.ai {what} answered a charge row that is {_shape(row)}, not an object")
    amount, kind = row.get("amount"), row.get("type")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not isinstance(kind, str):
        got = ", ".join(f"{k}={row.get(k)!r}" for k in ("type", "amount"))
        raise VastAIError(
            f"Vast.ai {what} answered a charge row without a string type and a numeric amount "
            f"({got}; keys: {', '.join(sorted(map(str, row))[:10])})"
        )
    return kind, float(amount)


def _created_id(body: Any, what: str) -> int:
    """The id a create answers with: ``{"success": true, "result": ID}`` (REST reference; the serverless client
    also reads ``id`` for a worker group)."""
    value = body.get("result", body.get("id")) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise VastAIError(f"Vast.ai {what} answered {_shape(body)} without the new id in result")
    return int(value)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _results(body: Any, what: str = "a list call") -> list[dict[str, Any]]:
    """The rows of a list answer, read as the official client reads them: ``{"success": true, "results": [...]}``."""
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return body["results"]
    raise VastAIError(f'Vast.ai {what} answered {_shape(body)}, not {{"success": true, "results": [...]}}')
