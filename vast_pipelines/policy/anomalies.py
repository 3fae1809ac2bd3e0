"""Robust cost anomalies: a value against the same weekday/hour of previous weeks (median and MAD)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

# 1.4826 makes the MAD estimate a standard deviation for normal data.
MAD_TO_SIGMA = 1.4826


class Driver(StrEnum):
    """What moved when spend is anomalous: the volume of requests or the cost of each."""

    REQUESTS = "requests up"
    UNIT_COST = "cost per request up"


@dataclass(frozen=True)
class Anomaly:
    """A value judged against its baseline (None: fewer comparable periods than ``needed``, ``compared`` of them);
    ``driver`` says whether volume or unit cost moved."""

    flagged: bool
    score: float | None
    baseline: float | None
    driver: Driver | None = None
    compared: int = 0
    needed: int = 0


def robust_score(value: float, history: Sequence[float]) -> tuple[float | None, float | None]:
    """``(score, median)``: how many robust standard deviations ``value`` lies above the history's median."""
    if not history:
        return None, None
    median = statistics.median(history)
    mad = statistics.median(abs(h - median) for h in history) * MAD_TO_SIGMA
    # A flat history has MAD 0: measure against a tenth of the median (or a cent) so any jump is not infinite.
    scale = mad if mad > 0 else max(abs(median) * 0.1, 0.01)
    return (value - median) / scale, median


def judge(
    cost: float,
    requests: int,
    cost_history: Sequence[float],
    request_history: Sequence[int],
    threshold: float = 3.5,
    min_history: int = 3,
    min_cost: float = 1.0,
) -> Anomaly:
    """Flag ``cost`` when it is far above the history and worth a look (at least ``min_cost`` USD)."""
    compared = len(cost_history)
    if compared < min_history:
        return Anomaly(False, None, None, compared=compared, needed=min_history)
    score, baseline = robust_score(cost, cost_history)
    assert score is not None and baseline is not None
    if score < threshold or cost < min_cost:
        return Anomaly(False, score, baseline, compared=compared, needed=min_history)
    moved = driver(cost, requests, cost_history, request_history)
    return Anomaly(True, score, baseline, moved, compared, min_history)


def driver(cost: float, requests: int, cost_history: Sequence[float], request_history: Sequence[int]) -> Driver:
    """Requests up when volume grew more than cost per request did, else cost per request up."""
    base_requests = statistics.median(request_history) if request_history else 0
    base_cost = statistics.median(cost_history)
    if base_requests <= 0 or requests <= 0:
        return Driver.REQUESTS if requests > base_requests else Driver.UNIT_COST
    volume_ratio = requests / base_requests
    unit_ratio = (cost / requests) / (base_cost / base_requests) if base_cost > 0 else float("inf")
    return Driver.REQUESTS if volume_ratio >= unit_ratio else Driver.UNIT_COST


@dataclass(frozen=True)
class Window:
    """A spend window: ``scope`` ("today" or "this hour") so far, ``weeks_back`` weeks before now (0 = now)."""

    scope: str
    weeks_back: int
    start: datetime
    end: datetime


def _weeks_before(moment: datetime, weeks: int, tz: ZoneInfo) -> datetime:
    """The same local wall time ``weeks`` weeks earlier (a DST change in between keeps the hour)."""
    local = moment.astimezone(tz).replace(tzinfo=None) - timedelta(weeks=weeks)
    return local.replace(tzinfo=tz)


def comparison_windows(now: datetime, tz: ZoneInfo, weeks: int = 4) -> list[Window]:
    """Today so far and this hour so far, and the same stretches of the same weekday ``1..weeks`` weeks back."""
    local = now.astimezone(tz)
    starts = {
        "today": local.replace(hour=0, minute=0, second=0, microsecond=0),
        "this hour": local.replace(minute=0, second=0, microsecond=0),
    }
    return [
        Window(scope, k, _weeks_before(start, k, tz), _weeks_before(now, k, tz))
        for scope, start in starts.items()
        for k in range(weeks + 1)
    ]


@dataclass(frozen=True)
class ModelAnomaly:
    """One model's spend in one window judged against the same window of past weeks."""

    model: str
    scope: str
    cost: float
    requests: int
    anomaly: Anomaly
    cost_history: tuple[float, ...]

    @property
    def subject(self) -> str:
        """The episode's name: scope and model."""
        return f"{self.scope}:{self.model}"


def judge_windows(
    totals: Mapping[tuple[str, int, str], tuple[float, int]],
    weeks_with_data: Mapping[str, set[int]],
    weeks: int = 4,
    threshold: float = 3.5,
    min_cost: float = 1.0,
) -> list[ModelAnomaly]:
    """Judge every model with spend now, per scope, against the past weeks that had any logged request.

    ``totals``: ``(scope, weeks_back, model) -> (cost, requests)``. A past week in which the model logged
    nothing while others did counts as $0 for it; a week in which nothing at all was logged is left out
    (a silent table is no baseline).
    """
    results = []
    for scope, model in sorted({(s, m) for s, k, m in totals if k == 0}):
        cost, requests = totals[(scope, 0, model)]
        past = [
            totals.get((scope, k, model), (0.0, 0))
            for k in range(1, weeks + 1)
            if k in weeks_with_data.get(scope, set())
        ]
        costs = [c for c, _ in past]
        anomaly = judge(cost, requests, costs, [r for _, r in past], threshold=threshold, min_cost=min_cost)
        results.append(ModelAnomaly(model, scope, cost, requests, anomaly, tuple(costs)))
    return results
