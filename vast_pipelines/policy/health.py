"""The guide's endpoint check: which probes get the cold-start retry, and the verdict on each endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vast_pipelines.domain.health import Failure, Probe


@dataclass(frozen=True)
class EndpointStatus:
    """The verdict on one endpoint after the cold-start retry."""

    name: str
    url: str
    online: bool
    models: tuple[str, ...]
    latency_ms: float | None
    attempts: int
    failure: Failure | None = None
    detail: str = ""
    wait_seconds: float | None = None  # how long the cold-start wait before the retry was

    @property
    def cold_start_retried(self) -> bool:
        """Whether it was probed again after the cold-start wait."""
        return self.attempts > 1


def is_possible_cold_start(probe: Probe) -> bool:
    """A timeout or a refused connection may be a worker scaling up from zero; DNS failure never is."""
    return not probe.online and probe.failure in (Failure.TIMEOUT, Failure.REFUSED)


def to_retry(first: Sequence[Probe]) -> list[int]:
    """Which of the first probes may have met a worker scaling up from zero: those are probed once more after one
    shared wait (the guide's "if cold start: wait 30s and retry")."""
    return [i for i, probe in enumerate(first) if is_possible_cold_start(probe)]


def endpoint_status(name: str, url: str, probes: list[Probe], wait_seconds: float | None = None) -> EndpointStatus:
    """Fold one or two probes (first try, cold-start retry ``wait_seconds`` later) into the endpoint's verdict."""
    last = probes[-1]
    return EndpointStatus(
        name=name,
        url=url,
        online=last.online,
        models=last.models,
        latency_ms=last.latency_ms,
        attempts=len(probes),
        failure=last.failure,
        detail=last.detail,
        wait_seconds=wait_seconds if len(probes) > 1 else None,
    )
