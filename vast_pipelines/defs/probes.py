"""The guide's endpoint check, wired: probe each endpoint, wait once for those that may be scaling up from zero,
probe those again, and fold the probes into a verdict per endpoint; and the platform's Vast.ai endpoints with their
live workers."""

import time
from collections.abc import Callable, Sequence

from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.health import EndpointStatus, endpoint_status, to_retry
from vast_pipelines.reports.health import VastSummary
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.vast import VastAIResource

ENDPOINTS = ("vLLM", "Ollama")


def check_endpoints(
    endpoints: InferenceEndpoints, names: Sequence[str] = ENDPOINTS, sleep: Callable[[float], None] = time.sleep
) -> list[EndpointStatus]:
    """Each named endpoint probed once; those that may be cold share one wait and get one retry."""
    targets = endpoints.targets()
    chosen = [(name, *targets[name]) for name in names]
    probes = [[probe()] for _, _, probe in chosen]
    again = to_retry([tried[0] for tried in probes])
    if again:
        sleep(endpoints.cold_start_wait_seconds)
        for i in again:
            probes[i].append(chosen[i][2]())
    return [
        endpoint_status(name, url, tried, endpoints.cold_start_wait_seconds)
        for (name, url, _), tried in zip(chosen, probes, strict=True)
    ]


def check_endpoint(
    endpoints: InferenceEndpoints, name: str, sleep: Callable[[float], None] = time.sleep
) -> EndpointStatus:
    """One endpoint's verdict after at most one cold-start retry."""
    return check_endpoints(endpoints, (name,), sleep)[0]


def vast_summary(vast: VastAIResource) -> VastSummary:
    """The platform's endpoints and their live workers, or why Vast.ai could not say."""
    try:
        endpoints = vast.platform_endpoints()
    except OperatorError as exc:
        return VastSummary(False, (str(exc),))
    if not endpoints:
        names = vast.owned_names()
        return VastSummary(True, (f"no endpoints{' named ' + ', '.join(names) if names else ''} on the account",))
    lines = []
    for endpoint in endpoints:
        try:
            workers = vast.endpoint_workers(endpoint.id)
            detail = ", ".join(f"{w.id}: {w.status}" for w in workers) or "no live workers (scaled to zero)"
        except OperatorError as exc:
            detail = f"workers unknown: {exc}"
        lines.append(
            f"{endpoint.name} (id {endpoint.id}, {endpoint.state}, idle timeout {endpoint.inactivity_timeout}s, "
            f"max workers {endpoint.max_workers}): {detail}"
        )
    return VastSummary(True, tuple(lines))
