"""Idle-timeout what-if: the guide's "increase idle timeout from 5 to 10 min" turned into a number."""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from vast_pipelines import clock
from vast_pipelines.definitions import code_location
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.insights.freshness import GROUP
from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.deploy import endpoint_name_for
from vast_pipelines.policy.guide_words import GuideWords, Translation, from_guide, to_guide
from vast_pipelines.policy.idle_timeout import assumed_current, gpu_hour_price, reported_price, what_if
from vast_pipelines.policy.worker_settings import from_vast
from vast_pipelines.reports.what_if import advice, model_section, what_if_report
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.vast import VastAIResource, VastEndpoint


class WhatIfConfig(dg.Config):
    """How much history to replay."""

    days: int | None = Field(default=None, description="Days of requests to replay; unset: what_if_days (14).")


def _endpoints(vast: VastAIResource) -> tuple[dict[str, VastEndpoint], list[dict], str | None]:
    """The platform's endpoints by name and the account's worker groups, or why Vast.ai could not say."""
    try:
        endpoints = {e.name: e for e in vast.platform_endpoints()}
        return endpoints, vast.list_workergroups() if endpoints else [], None
    except OperatorError as exc:
        return {}, [], str(exc)


@dg.asset(group_name=GROUP, kinds={"python", "postgres"}, deps=[vast_ai_costs])
def idle_timeout_what_if(
    context: dg.AssetExecutionContext,
    config: WhatIfConfig,
    database: AnalyticsDatabase,
    vast: VastAIResource,
    settings: RunbookSettings,
) -> dg.MaterializeResult:
    """Each model's requests of the last days replayed through a scale-to-zero worker (warm for `idle_timeout`
    seconds after its last request; a request to a cold worker is a cold start) for idle timeouts from 60 s to
    30 min and `min_workers` 0 and 1: predicted cold-start rate, warm GPU hours and their cost. The model is
    checked against the logged `cold_start` flags, and the cheapest setting keeping the cold-start rate within
    0.2 is given as a ready `update_worker` config. Kept in `vast_pipelines.idle_timeout_what_if`."""
    limits = settings.limits()
    days = config.days or limits.what_if_days
    end = clock.now()
    start = end - timedelta(days=days)
    endpoints, groups, vast_error = _endpoints(vast)
    location = code_location(context)
    sections, rows, errors, requests, savings = [], [], [], 0, 0.0
    for trace in database.costs.request_traces(start, end):
        requests += len(trace.starts)
        endpoint = endpoints.get(endpoint_name_for(trace.model)) or endpoints.get(trace.model)
        name = endpoint.name if endpoint else endpoint_name_for(trace.model)
        # The endpoint's setting in the replay's (the guide's) words: warm when min_load keeps a worker active.
        current = assumed_current(to_guide(from_vast(endpoint.raw)) if endpoint else GuideWords())
        own_groups = [g for g in groups if endpoint and str(g.get("endpoint_id")) == str(endpoint.id)]
        vast_price = reported_price(endpoint.raw, *own_groups) if endpoint else None
        price, source = gpu_hour_price(limits.gpu_hour_usd, vast_price, trace.cost, trace.busy_seconds)
        result = what_if(
            trace.starts, trace.durations, trace.cold, current, limits.cold_start_rate, price, days * 86400.0
        )
        if result.check.error is not None:
            errors.append(abs(result.check.error))
        savings += result.saving
        translation = _translation(result.move, endpoint, vast)
        advised = advice(name, endpoint is not None, result, translation, price, limits.cold_start_rate, location)
        sections.append(
            model_section(trace.model, len(trace.starts), name, endpoint is not None, price, source, result, advised)
        )
        rows += [
            {
                "model": trace.model,
                "idle_timeout": r.idle_timeout,
                "min_workers": r.min_workers,
                "judged_requests": r.judged_requests,
                "cold_starts": r.cold_starts,
                "cold_start_rate": r.cold_start_rate,
                "warm_gpu_hours": r.warm_seconds / 3600.0,
                "cost_usd": r.cost(price) if price is not None else None,
                "recommended": r is result.best,
                "window_start": start,
                "window_end": end,
                "run_id": context.run.run_id,
            }
            for r in result.replays
        ]
    database.insights.save_what_if(rows)
    report = what_if_report(days, requests, vast_error, sections)
    return dg.MaterializeResult(
        metadata={
            "models": len(sections),
            "requests_replayed": requests,
            **({"max_model_error": max(errors)} if errors else {}),
            "savings_usd": savings,
            "report": dg.MetadataValue.md(report),
        }
    )


def _translation(move: GuideWords | None, endpoint: VastEndpoint | None, vast: VastAIResource) -> Translation | None:
    """The move through the one mapping of the guide's words: warm → min_load (from a worker's measured perf when
    one reports it), scale to zero → min_load 0 with the inactivity_timeout."""
    if move is None:
        return None
    perf = None
    if move.min_workers and endpoint is not None:
        try:
            perf = vast.worker_perf(endpoint.id)
        except OperatorError:
            perf = None
    return from_guide(move, worker_perf=perf)
