"""Robust cost anomalies: a value against the same weekday/hour of previous weeks (median and MAD)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# 1.4826 makes the MAD estimate a standard deviation for normal data.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Anomaly:
    """A value judged against its baseline; ``driver`` says whether volume or unit cost moved."""

    flagged: bool
    score: float | None
    baseline: float | None
    driver: str = ""
    reason: str = ""


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
    if len(cost_history) < min_history:
        return Anomaly(False, None, None, reason=f"needs {min_history} comparable periods, has {len(cost_history)}")
    score, baseline = robust_score(cost, cost_history)
    assert score is not None and baseline is not None
    if score < threshold or cost < min_cost:
        return Anomaly(False, score, baseline)
    return Anomaly(True, score, baseline, driver=driver(cost, requests, cost_history, request_history))


def driver(cost: float, requests: int, cost_history: Sequence[float], request_history: Sequence[int]) -> str:
    """ "requests up" when volume grew more than cost per request did, else "cost per request up"."""
    base_requests = statistics.median(request_history) if request_history else 0
    base_cost = statistics.median(cost_history)
    if base_requests <= 0 or requests <= 0:
        return "requests up" if requests > base_requests else "cost per request up"
    volume_ratio = requests / base_requests
    unit_ratio = (cost / requests) / (base_cost / base_requests) if base_cost > 0 else float("inf")
    return "requests up" if volume_ratio >= unit_ratio else "cost per request up"
