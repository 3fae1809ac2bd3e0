"""The guide's "Cost Alerts": which thresholds month-to-date spend has crossed, and what to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.spend import Forecast


class AlertLevel(StrEnum):
    """The Grafana alert levels of the guide, lowest first."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"


# Not a level of the guide: the month-end forecast reaches the hard cap before the month is over.
FORECAST_KEY = "forecast_hard_cap"
# Not a level either: today holds requests whose cost is NULL or not a finite number (one alert per day).
UNCOUNTED_PREFIX = "uncounted_costs:"


def level_thresholds(limits: Thresholds = GUIDE) -> tuple[tuple[AlertLevel, float], ...]:
    """(level, USD month-to-date) pairs, lowest first."""
    return (
        (AlertLevel.INFO, limits.alert_info),
        (AlertLevel.WARNING, limits.alert_warning),
        (AlertLevel.CRITICAL, limits.alert_critical),
        (AlertLevel.EMERGENCY, limits.alert_emergency),
    )


def crossed_levels(month_to_date: float, limits: Thresholds = GUIDE) -> tuple[AlertLevel, ...]:
    """Every level whose threshold month-to-date spend has reached, lowest first."""
    return tuple(level for level, threshold in level_thresholds(limits) if month_to_date >= threshold)


def next_level(month_to_date: float, limits: Thresholds = GUIDE) -> tuple[AlertLevel, float] | None:
    """The next level still ahead this month, or None once every level is crossed."""
    ahead = [(level, threshold) for level, threshold in level_thresholds(limits) if month_to_date < threshold]
    return ahead[0] if ahead else None


@dataclass(frozen=True)
class BudgetDecision:
    """What this month's spend calls for: the levels crossed and whether the forecast warns ahead."""

    month: str
    crossed: tuple[AlertLevel, ...]
    forecast_warning: bool
    # ``uncounted_costs:YYYY-MM-DD`` when today holds requests whose cost is not money (NULL, NaN, Infinity).
    uncounted_key: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The alert-state keys to claim, lowest level first, the forecast, then today's uncounted rows."""
        return (
            tuple(level.value for level in self.crossed)
            + ((FORECAST_KEY,) if self.forecast_warning else ())
            + ((self.uncounted_key,) if self.uncounted_key else ())
        )

    @property
    def highest(self) -> AlertLevel | None:
        """The highest level crossed, or None."""
        return self.crossed[-1] if self.crossed else None

    def notify_keys(self) -> tuple[str, ...]:
        """The keys that get a message when claimed: the highest level, and the forecast warning."""
        keys = (self.highest.value,) if self.highest else ()
        return (
            keys
            + ((FORECAST_KEY,) if self.forecast_warning else ())
            + ((self.uncounted_key,) if self.uncounted_key else ())
        )


def budget_decision(
    spend: SpendSummary, forecast: Forecast, month: str, limits: Thresholds = GUIDE, today: date | None = None
) -> BudgetDecision:
    """Levels crossed by month-to-date spend; a forecast reaching the hard cap before month end warns ahead.

    No request with a cost means no level and no forecast: silence is not a $0.00 that passes the budget. Rows
    logged ``today`` whose cost is not money (NULL, NaN, Infinity) are spend the checks cannot see: one alert a day.
    """
    uncounted = f"{UNCOUNTED_PREFIX}{today.isoformat()}" if today and spend.today_uncounted_rows else None
    if not spend.month_has_cost:
        return BudgetDecision(month, (), False, uncounted)
    warn_ahead = forecast.hard_cap_date is not None and spend.month_to_date < limits.hard_cap
    return BudgetDecision(month, crossed_levels(spend.month_to_date, limits), warn_ahead, uncounted)


@dataclass(frozen=True)
class AlertPlan:
    """The messages to send after a claim: at most one level alert, and the forecast if not folded in."""

    level: AlertLevel | None
    forecast: bool
    uncounted: bool = False


def alerts_to_send(decision: BudgetDecision, claimed: set[str]) -> AlertPlan:
    """Of the keys this caller claimed, what to send: a jump over several levels sends the highest once.

    The forecast warning rides along in a level alert sent in the same tick instead of a second message.
    """
    level = decision.highest if decision.highest and decision.highest.value in claimed else None
    forecast = FORECAST_KEY in claimed and level is None
    return AlertPlan(level, forecast, decision.uncounted_key is not None and decision.uncounted_key in claimed)
