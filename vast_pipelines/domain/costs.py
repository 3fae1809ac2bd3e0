"""Request and cost counts read from the cost history and ``vast_ai_costs``: totals, drivers and latencies."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal


def _add(a, b):
    """Sum where None means "nothing logged": None + None stays None, as SQL's SUM does."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(frozen=True)
class CostTotals:
    """Additive request and cost counts over any set of requests (USD exact, durations in seconds)."""

    requests: int = 0
    cost: Decimal | None = None
    cold_start_requests: int = 0
    cold_start_cost: Decimal | None = None
    cold_start_costed_requests: int = 0
    duration_sum: float | None = None
    duration_count: int = 0
    cold_duration_sum: float | None = None
    cold_duration_count: int = 0
    null_cost_requests: int = 0
    null_duration_requests: int = 0
    negative_cost_requests: int = 0
    # Costs that are not money (NaN, Infinity, beyond +-1e12): never in ``cost``, counted like NULLs.
    invalid_cost_requests: int = 0
    # Negative costs (credits), summed apart: ``cost`` is what was charged, never net of them.
    credit_cost: Decimal | None = None

    def __add__(self, other: CostTotals) -> CostTotals:
        return CostTotals(**{f.name: _add(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)})

    @property
    def has_cost(self) -> bool:
        """Whether any request with a cost was logged; without one the period is "no data", never $0."""
        return self.requests > 0 and self.cost is not None

    @property
    def cost_per_request(self) -> Decimal | None:
        """The guide's ``SUM(cost) / COUNT(*)``: requests without a cost count in the denominator."""
        return self.cost / self.requests if self.has_cost else None

    @property
    def costed_requests(self) -> int:
        """Requests that carry a cost that is money."""
        return self.requests - self.null_cost_requests - self.invalid_cost_requests

    @property
    def cold_start_rate(self) -> float | None:
        """Share of requests that were cold starts (the guide's ``AVG(CASE WHEN cold_start ...)``)."""
        return self.cold_start_requests / self.requests if self.requests else None

    @property
    def avg_duration_sec(self) -> float | None:
        """Mean duration of the requests that logged one."""
        return (
            self.duration_sum / self.duration_count if self.duration_count and self.duration_sum is not None else None
        )

    @property
    def cold_cost_share(self) -> float | None:
        """Share of the cost spent in cold-start requests."""
        if not self.cost:
            return None
        return float((self.cold_start_cost or Decimal(0)) / self.cost)

    @property
    def cold_duration_share(self) -> float | None:
        """Share of the GPU seconds spent in cold-start requests."""
        if not self.duration_sum:
            return None
        return (self.cold_duration_sum or 0.0) / self.duration_sum

    @property
    def warm_cost_per_request(self) -> Decimal | None:
        """Mean cost of a warm request (among those with a cost)."""
        warm_costed = self.costed_requests - self.cold_start_costed_requests
        if self.cost is None or warm_costed <= 0:
            return None
        return (self.cost - (self.cold_start_cost or Decimal(0))) / warm_costed

    @property
    def cold_start_overhead(self) -> Decimal | None:
        """What cold-start requests cost beyond the same number of warm requests (USD)."""
        warm = self.warm_cost_per_request
        if warm is None or self.cold_start_costed_requests == 0:
            return None
        return (self.cold_start_cost or Decimal(0)) - warm * self.cold_start_costed_requests


@dataclass(frozen=True)
class HistoryRow:
    """One row of ``vast_pipelines.daily_cost_history``: one model on one local day."""

    day: date
    model: str
    totals: CostTotals


@dataclass(frozen=True)
class Percentiles:
    """p50/p95/p99 of request duration in seconds (None when no request logged a duration)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class LatencySummary:
    """The last 24 h of request durations, all requests and split into warm and cold starts."""

    requests: int
    timed_requests: int
    cold_start_requests: int
    cold_start_rate: float | None
    overall: Percentiles
    warm: Percentiles
    cold: Percentiles


@dataclass(frozen=True)
class CostDriver:
    """One row of the guide's "Top cost drivers today", with the warm/cold split."""

    model: str
    requests: int
    total_cost: Decimal | None
    avg_duration_sec: float | None
    cold_start_requests: int = 0
    cold_start_cost: Decimal | None = None
    warm_avg_duration_sec: float | None = None
    cold_avg_duration_sec: float | None = None
    null_cost_requests: int = 0
