"""The Vast.ai resource: a guide "worker" is a serverless endpoint with its worker group; its live GPU workers and
a ready worker's URL come from the autoscaler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import Field

from vast_pipelines.resources.vast import billing
from vast_pipelines.resources.vast.transport import VastAIError, VastClient
from vast_pipelines.resources.vast.wire import (
    ME,
    AccountCredit,
    RouteResult,
    VastEndpoint,
    VastWorker,
    created_id,
    endpoint_create_body,
    endpoint_update_body,
    read_credit,
    read_endpoint,
    read_route,
    read_workers,
    results,
    scrub,
    workergroup_create_body,
    workergroup_update_body,
)


class VastAIResource(VastClient):
    """Client for Vast.ai's serverless API with bearer auth, timeouts and backoff on 429/5xx."""

    endpoint_names: str | None = Field(
        default=None, description="VAST_ENDPOINTS: comma-separated endpoint names this platform owns; unset: all."
    )
    endpoints_path: str = "/api/v0/endptjobs/"
    workergroups_path: str = "/api/v0/workergroups/"
    endpoint_workers_path: str = "/get_endpoint_workers/"
    route_path: str = "/route/"
    charges_path: str = "/api/v0/charges/"
    user_path: str = "/api/v0/users/current"

    def owned_names(self) -> list[str]:
        """The endpoint names from ``VAST_ENDPOINTS`` (empty: every endpoint of the account)."""
        return [n.strip() for n in (self.endpoint_names or "").split(",") if n.strip()]

    def list_endpoints(self, *, patient: bool = False) -> list[VastEndpoint]:
        """Every serverless endpoint of the account (``GET /api/v0/endptjobs/``, as ``vastai show endpoints``); a
        row without a usable id is left out (see ``list_endpoints_checked``)."""
        return self.list_endpoints_checked(patient=patient)[0]

    def _endpoint_rows(self, *, patient: bool = False) -> list[dict[str, Any]]:
        body = self.call("GET", self.api_url, self.endpoints_path, json=self._list_body(), patient=patient)
        return results(body, f"GET {self.endpoints_path}")

    def _list_body(self) -> dict[str, Any]:
        # The official client sends a JSON body with its list GETs: client_id and the account key.
        return {**ME, "api_key": self.api_key}

    def list_endpoints_checked(self, *, patient: bool = False) -> tuple[list[VastEndpoint], list[str]]:
        """Every endpoint of the account, and a description of each row that is not a usable endpoint (no
        ``id``): one malformed row never hides the others."""
        endpoints, malformed = [], []
        for row in self._endpoint_rows(patient=patient):
            try:
                endpoints.append(read_endpoint(row))
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
        body = self.call("POST", self.autoscaler_url, self.endpoint_workers_path, json={"id": endpoint_id})
        return read_workers(body, f"POST {self.endpoint_workers_path} for endpoint {endpoint_id}")

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
        self.call("PUT", self.api_url, f"{self.endpoints_path}{endpoint_id}/", json=body, patient=patient)

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
            self.call("DELETE", self.api_url, f"{self.endpoints_path}{endpoint_id}/", json=body, patient=patient)
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
        body = self.call("GET", self.api_url, self.workergroups_path, json=self._list_body())
        return [scrub(row) for row in results(body, f"GET {self.workergroups_path}")]

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
                answer = self.call("POST", self.api_url, path, json=body, idempotent=False)
                return created_id(answer, f"POST {path}")
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
        self.call(
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
        body = self.call(
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
        return read_route(body, f"POST {self.route_path}")

    def _endpoint_key(self, endpoint_name: str) -> str:
        for row in self._endpoint_rows():
            if str(row.get("endpoint_name")) == endpoint_name and row.get("api_key"):
                return str(row["api_key"])
        raise VastAIError(
            f"Vast.ai lists no endpoint named {endpoint_name!r} with a key to route requests with; "
            "check the name on https://cloud.vast.ai/serverless/"
        )

    def daily_charges(self, start: date, end: date, charge_type: str = "serverless") -> dict[date, float]:
        """USD billed per UTC day in ``[start, end)`` for ``charge_type``, as ``vastai show invoices-v1`` reads it
        (:func:`billing.daily_charges`)."""
        return billing.daily_charges(self, self.charges_path, start, end, charge_type)

    def account_credit(self) -> AccountCredit:
        """The account's credit (USD) and balance from ``GET /api/v0/users/current``, read as ``vastai show user``."""
        return read_credit(self.call("GET", self.api_url, self.user_path), f"GET {self.user_path}")
