"""The spend windows read from ``vast_ai_costs``: what the health check, alerts and emergency judge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SpendSummary:
    """The health check's spend windows, straight from ``vast_ai_costs`` (USD, unrounded)."""

    rolling_24h_cost: float
    rolling_24h_requests: int
    previous_day_cost: float
    previous_day_requests: int
    today_cost: float
    today_requests: int
    month_to_date: float
    month_requests: int
    last_7_days_cost: float
    month_null_cost_rows: int = 0
    month_negative_cost_rows: int = 0
    future_rows: int = 0
    latest_request: datetime | None = None
    # Requests that carry a cost that is money (finite; credits included); None: every request does.
    rolling_24h_costed_requests: int | None = None
    previous_day_costed_requests: int | None = None
    today_costed_requests: int | None = None
    month_costed_requests: int | None = None
    # Costs that are not money (NaN, Infinity, beyond +-1e12) are never summed: counted here, like NULLs.
    month_invalid_cost_rows: int = 0
    today_null_cost_rows: int = 0
    today_invalid_cost_rows: int = 0
    today_negative_cost_rows: int = 0
    # Negative costs (credits) this month, summed apart (USD, 0 or less): never subtracted from spend.
    month_credit: float = 0.0

    @property
    def has_data(self) -> bool:
        """Whether any request with a cost was logged this month or in the last 24 h."""
        return self.month_has_cost or self.rolling_24h_has_cost

    @property
    def rolling_24h_has_cost(self) -> bool:
        """Whether the last 24 h hold any request with a cost; without one its spend is "no data", never $0."""
        return _costed(self.rolling_24h_requests, self.rolling_24h_costed_requests) > 0

    @property
    def previous_day_has_cost(self) -> bool:
        """Whether the previous calendar day holds any request with a cost."""
        return _costed(self.previous_day_requests, self.previous_day_costed_requests) > 0

    @property
    def today_has_cost(self) -> bool:
        """Whether today holds any request with a cost."""
        return _costed(self.today_requests, self.today_costed_requests) > 0

    @property
    def month_has_cost(self) -> bool:
        """Whether this month holds any request with a cost."""
        return _costed(self.month_requests, self.month_costed_requests) > 0

    @property
    def today_uncounted_rows(self) -> int:
        """Today's requests whose cost is NULL or not a finite number: logged, but not money."""
        return self.today_null_cost_rows + self.today_invalid_cost_rows


def _costed(requests: int, costed: int | None) -> int:
    return requests if costed is None else costed
