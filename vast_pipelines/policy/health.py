"""Endpoint probe outcomes and the guide's "Actions if OFFLINE"."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    actions: tuple[str, ...] = field(default_factory=tuple)
    wait_seconds: float | None = None  # how long the cold-start wait before the retry was

    @property
    def label(self) -> str:
        """``ONLINE`` or ``OFFLINE`` as the guide's script prints it."""
        return "ONLINE" if self.online else "OFFLINE"


def is_possible_cold_start(probe: Probe) -> bool:
    """A timeout or a refused connection may be a worker scaling up from zero; DNS failure never is."""
    return not probe.online and probe.failure in (Failure.TIMEOUT, Failure.REFUSED)


def offline_actions(failure: Failure | None, cold_start_retried: bool) -> tuple[str, ...]:
    """The guide's "Actions if OFFLINE", most specific first."""
    if failure is Failure.DNS:
        return (
            "Host name does not resolve: this is not a cold start. Check Tailscale: "
            "`tailscale status | grep vastai` (expect `vastai-gpu ... active`); "
            "restart it if needed: `sudo tailscale down && sudo tailscale up`.",
            "Check worker status on the dashboard: https://cloud.vast.ai/serverless/",
        )
    actions = ["Check Tailscale: `tailscale status | grep vastai`"]
    actions.append("Check worker status on the dashboard: https://cloud.vast.ai/serverless/")
    if failure in (Failure.TIMEOUT, Failure.REFUSED):
        if cold_start_retried:
            actions.append("Still down after the cold-start wait and one retry: treat as truly down.")
        else:
            actions.append("If cold start: wait 30s and retry.")
    if failure in (Failure.HTTP_ERROR, Failure.BAD_RESPONSE):
        actions.append("The server answers but not correctly: check the worker logs on the Vast.ai dashboard.")
    actions.append(
        "If truly down: follow Troubleshooting › Endpoint Not Responding "
        "(`curl -I <endpoint>/health`, Tailscale, worker logs; restart or redeploy the worker)."
    )
    return tuple(actions)


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
        actions=() if last.online else offline_actions(last.failure, cold_start_retried=len(probes) > 1),
        wait_seconds=wait_seconds if len(probes) > 1 else None,
    )
