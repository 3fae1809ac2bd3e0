"""The inference endpoints of the guide's health check: vLLM and Ollama over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg
import httpx
from pydantic import Field

from vast_pipelines.connect.http import classify_transport_error
from vast_pipelines.domain.health import Failure, Probe

DEFAULT_VLLM_URL = "http://vastai-gpu.tailcf98b3.ts.net:8000"
DEFAULT_OLLAMA_URL = "http://vastai-gpu.tailcf98b3.ts.net:11434"


def _base(url: str) -> str:
    """The server root: the guide writes vLLM's endpoint as ``host:8000/v1``."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class InferenceEndpoints(dg.ConfigurableResource):
    """vLLM (``/health``, ``/v1/models``) and Ollama (``/api/tags``), probed once per call; the cold-start wait
    before a retry is configured here and decided by ``policy.health``."""

    vllm_url: str = Field(default=DEFAULT_VLLM_URL, description="VLLM_URL")
    ollama_url: str = Field(default=DEFAULT_OLLAMA_URL, description="OLLAMA_URL")
    timeout_seconds: float = Field(default=10.0, description="Per request.")
    cold_start_wait_seconds: float = Field(
        default=30.0, description="The guide's 'if cold start: wait 30s and retry' (once)."
    )

    def targets(self) -> dict[str, tuple[str, Callable[[], Probe]]]:
        """The guide's endpoints by name (``vLLM``, ``Ollama``): the server root and one probe of it."""
        return {
            "vLLM": (_base(self.vllm_url), self.probe_vllm),
            "Ollama": (_base(self.ollama_url), self.probe_ollama),
        }

    def probe_vllm(self) -> Probe:
        """One attempt: ``GET /health`` must be 200, then ``GET /v1/models`` lists ``data[].id``."""
        base = _base(self.vllm_url)
        return self._probe(
            [f"{base}/health", f"{base}/v1/models"],
            lambda body: [str(m["id"]) for m in body["data"]],
        )

    def probe_ollama(self) -> Probe:
        """One attempt: ``GET /api/tags`` lists ``models[].name``."""
        return self._probe(
            [f"{_base(self.ollama_url)}/api/tags"],
            lambda body: [str(m["name"]) for m in body["models"]],
        )

    def list_models(self, base_url: str) -> list[str]:
        """Model ids an OpenAI-compatible server at ``base_url`` lists; raises on any failure."""
        probe = self._probe([f"{_base(base_url)}/v1/models"], lambda body: [str(m["id"]) for m in body["data"]])
        if not probe.online:
            raise RuntimeError(f"{base_url}/v1/models: {probe.failure.value if probe.failure else ''} {probe.detail}")
        return list(probe.models)

    def _probe(self, urls: list[str], parse_models: Callable[[object], list[str]]) -> Probe:
        started = time.perf_counter()
        try:
            with httpx.Client(timeout=self.timeout_seconds, follow_redirects=True) as client:
                response = None
                for url in urls:
                    response = client.get(url)
                    if response.status_code != 200:
                        return Probe(
                            online=False,
                            failure=Failure.HTTP_ERROR,
                            http_status=response.status_code,
                            detail=f"GET {url} answered HTTP {response.status_code}",
                        )
                assert response is not None
                body = response.json()
        except httpx.TransportError as exc:
            failure = classify_transport_error(exc)
            return Probe(online=False, failure=failure, detail=f"{failure.value}: {type(exc).__name__}")
        except ValueError:
            return Probe(online=False, failure=Failure.BAD_RESPONSE, detail=f"GET {urls[-1]} did not return JSON")
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            models = parse_models(body)
        except (KeyError, TypeError):
            return Probe(
                online=False,
                failure=Failure.BAD_RESPONSE,
                detail=f"GET {urls[-1]} returned JSON without the expected model list",
            )
        return Probe(online=True, models=tuple(models), latency_ms=latency_ms, http_status=200)
