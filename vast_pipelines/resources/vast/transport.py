"""One call to Vast.ai: bearer auth, a timeout, back-off on 429/5xx, and an error that says what to check."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from vast_pipelines.connect.http import RETRY_STATUSES, request_with_backoff
from vast_pipelines.errors import NotConfigured, OperatorError, redact

DEFAULT_API_URL = "https://console.vast.ai"
DEFAULT_AUTOSCALER_URL = "https://run.vast.ai"


class VastAIError(OperatorError):
    """A Vast.ai call failed; the message says which call, why, and what to check."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def uncertain(self) -> bool:
        """Whether the call may have done its work anyway (no answer, or a 5xx): read before repeating it."""
        return self.status is None or self.status >= 500


class VastClient(dg.ConfigurableResource):
    """Where Vast.ai answers and how hard to try: the connection half of :class:`VastAIResource`."""

    api_url: str = Field(default=DEFAULT_API_URL, description="VAST_API_URL")
    autoscaler_url: str = Field(default=DEFAULT_AUTOSCALER_URL, description="VAST_AUTOSCALER_URL")
    api_key: str | None = Field(default=None, description="VAST_API_KEY (bearer token); unset refuses every call.")
    timeout_seconds: float = 15.0
    max_attempts: int = Field(default=5, description="Attempts per call on 429/5xx/transport errors.")
    first_backoff_seconds: float = Field(default=0.15, description="vast-cli's first back-off.")
    backoff_factor: float = 1.5
    emergency_wait_seconds: float = Field(
        default=90.0,
        description="The emergency and restore calls keep retrying 429/5xx/transport errors (honouring "
        "Retry-After) until this long was waited: a minute of rate limiting does not stop a shutdown.",
    )

    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)

    @property
    def configured(self) -> bool:
        """Whether an API key is set."""
        return bool(self.api_key)

    def describe_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> str:
        """The exact call a dry run would make, for logs and reports (no credentials)."""
        host = self.api_url.rstrip("/")
        return f"{method} {host}{path}" + (f" {json.dumps(body, sort_keys=True)}" if body else "")

    def call(
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
        """One call with back-off; its JSON answer. ``patient`` (the emergency and restore calls) keeps retrying
        until ``emergency_wait_seconds`` was waited; ``idempotent=False`` (creates) retries only a 429."""
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
