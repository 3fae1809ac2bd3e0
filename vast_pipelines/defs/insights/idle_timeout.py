"""Idle-timeout what-if: the guide's "increase idle timeout from 5 to 10 min" turned into a number."""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from vast_pipelines import clock
from vast_pipelines.definitions import code_location
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.insights.freshness import GROUP
from vast_pipelines.policy.deploy import endpoint_name_for
from vast_pipelines.policy.idle_timeout import (
    Replay,
    cheapest_within,
    gpu_hour_price,
    grid,
    reported_price,
    validate,
)
from vast_pipelines.policy.spend import usd
from vast_pipelines.policy.worker_settings import GuideWords, from_guide, from_vast, to_guide
from vast_pipelines.reports.deploy import update_worker_recommendation
from vast_pipelines.reports.insights import validation_line, what_if_table
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.errors import OperatorError
from vast_pipelines.resources.insights import request_traces, save_what_if
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.vast import VastAIResource, VastEndpoint


class WhatIfConfig(dg.Config):
    """How much history to replay."""

    days: int | None = Field(default=None, description="Days of requests to replay; unset: what_if_days (14).")


def _endpoints(vast: VastAIResource) -> tuple[dict[str, VastEndpoint], list[dict], str]:
    """The platform's endpoints by name and the account's worker groups, or why Vast.ai could not say."""
    try:
        endpoints = {e.name: e for e in vast.platform_endpoints()}
        return endpoints, vast.list_workergroups() if endpoints else [], ""
    except OperatorError as exc:
        return {}, [], f"current settings unknown ({exc}); the guide's defaults assumed"


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
    endpoints, groups, vast_note = _endpoints(vast)
    location = code_location(context)
    sections, rows, errors, requests, savings = [], [], [], 0, 0.0
    for trace in request_traces(database, start, end):
        requests += len(trace.starts)
        endpoint = endpoints.get(endpoint_name_for(trace.model)) or endpoints.get(trace.model)
        name = endpoint.name if endpoint else endpoint_name_for(trace.model)
        # The endpoint's setting in the replay's (the guide's) words: warm when min_load keeps a worker active.
        read = to_guide(from_vast(endpoint.raw)) if endpoint else GuideWords()
        current = GuideWords(
            idle_timeout=read.idle_timeout or 300,
            min_workers=read.min_workers if read.min_workers is not None else 0,
        )
        own_groups = [g for g in groups if endpoint and str(g.get("endpoint_id")) == str(endpoint.id)]
        vast_price = reported_price(endpoint.raw, *own_groups) if endpoint else None
        price, price_source = gpu_hour_price(limits.gpu_hour_usd, vast_price, trace.cost, trace.busy_seconds)
        replays = grid(trace.starts, trace.durations, window_seconds=days * 86400.0)
        # Any positive price ranks the settings the same way (cost is warm hours × price).
        best = cheapest_within(replays, limits.cold_start_rate, price or 1.0)
        check = validate(trace.starts, trace.durations, trace.cold, current.idle_timeout, current.min_workers)
        if check.error is not None:
            errors.append(abs(check.error))
        now_replay = (
            _current(replays, current)
            or grid(
                trace.starts, trace.durations, (current.idle_timeout,), (min(current.min_workers, 1),), days * 86400.0
            )[0]
        )
        advice = _advice(name, endpoint, current, best, now_replay, price, limits.cold_start_rate, vast, location)
        if best is not None and price is not None:
            savings += max(now_replay.cost(price) - best.cost(price), 0.0)
        sections.append(
            "\n\n".join(
                [
                    f"### {trace.model} — {len(trace.starts):,} requests, endpoint `{name}`"
                    f"{'' if endpoint else ' (not found on Vast.ai)'}",
                    f"Price: {usd(price) + '/GPU-hour' if price is not None else 'unknown'} ({price_source})",
                    validation_line(check),
                    what_if_table(replays, price, best),
                    advice,
                ]
            )
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
                "recommended": r is best,
                "window_start": start,
                "window_end": end,
                "run_id": context.run.run_id,
            }
            for r in replays
        ]
    save_what_if(database, rows)
    head = f"Idle-timeout what-if over the last {days} days ({requests:,} requests). {vast_note}".strip()
    report = "\n\n".join([head, *sections] if sections else [head, "No requests logged in the window."])
    return dg.MaterializeResult(
        metadata={
            "models": len(sections),
            "requests_replayed": requests,
            **({"max_model_error": max(errors)} if errors else {}),
            "savings_usd": savings,
            "report": dg.MetadataValue.md(report),
        }
    )


def _current(replays: list[Replay], current: GuideWords) -> Replay | None:
    for r in replays:
        if current.min_workers and r.min_workers >= 1:
            return r
        if not current.min_workers and r.min_workers == 0 and r.idle_timeout == current.idle_timeout:
            return r
    return None


def _advice(
    name: str,
    endpoint: VastEndpoint | None,
    current: GuideWords,
    best: Replay | None,
    now: Replay,
    price: float | None,
    limit: float,
    vast: VastAIResource,
    location: str,
) -> str:
    """The recommendation as a ready `update_worker` config (a Launchpad link into ``location``), or why there is
    none."""
    if best is None:
        return f"No setting in the grid keeps the cold-start rate within {limit:.0%} (or too few requests to judge)."
    same = (best.min_workers >= 1 and (current.min_workers or 0) >= 1) or (
        best.min_workers == 0 and not current.min_workers and best.idle_timeout == current.idle_timeout
    )
    if same:
        return "The current setting is already the cheapest within the cold-start limit."
    # The replay's words through the one mapping: warm → min_load (from a worker's measured perf when one
    # reports it), scale to zero → min_load 0 with the inactivity_timeout.
    perf = None
    if best.min_workers >= 1 and endpoint is not None:
        try:
            perf = vast.worker_perf(endpoint.id)
        except OperatorError:
            perf = None
    words = (
        GuideWords(min_workers=1)
        if best.min_workers >= 1
        else GuideWords(idle_timeout=best.idle_timeout, min_workers=0)
    )
    translation = from_guide(words, worker_perf=perf)
    changes = translation.settings
    cost = f"{usd(now.cost(price))} → {usd(best.cost(price))} over the window" if price is not None else "cost unknown"
    rates = f"cold-start rate {_rate(now)} → {_rate(best)}"
    setting = f"min_workers {best.min_workers}" if best.min_workers else f"idle_timeout {best.idle_timeout} s"
    return (
        f"**Recommended: {setting}** ({rates}; warm {now.warm_seconds / 3600:,.1f} → {best.warm_seconds / 3600:,.1f} "
        f"GPU h; {cost}).\n\n{'; '.join(translation.lines)}.\n\n{update_worker_recommendation(name, changes, location)}"
        + ("" if endpoint else f"\n\n(No endpoint named `{name}` on Vast.ai: correct the name before launching.)")
    )


def _rate(r: Replay) -> str:
    return "n/a" if r.cold_start_rate is None else f"{r.cold_start_rate:.0%}"
