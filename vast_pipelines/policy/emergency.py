"""The guide's "Runaway Costs" emergency: when it triggers, whether it still holds, and how each step went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.spend import usd


class Reason(StrEnum):
    """Why an emergency shutdown runs."""

    RUNAWAY = "runaway"
    HARD_CAP = "hard_cap"
    MANUAL = "manual"


@dataclass(frozen=True)
class Trigger:
    """One reason to run the emergency shutdown, with the run key that makes it fire once."""

    reason: Reason
    run_key: str
    spend: float
    threshold: float

    @property
    def summary(self) -> str:
        """One line an operator reads in the run's tags and messages."""
        return describe_reason(self.reason, self.spend, self.threshold)


def describe_reason(reason: Reason, spend: float | None, threshold: float | None) -> str:
    """The reason in the guide's words with its figures."""
    if reason is Reason.RUNAWAY:
        return f"Runaway costs: {usd(spend)} spent today, over the {usd(threshold)}/day limit"
    if reason is Reason.HARD_CAP:
        return f"Hard cap: {usd(spend)} spent this month, at or over the {usd(threshold)}/month cap"
    return "Emergency shutdown launched by an operator"


def emergency_triggers(spend: SpendSummary, today: date, t: Thresholds = GUIDE) -> tuple[Trigger, ...]:
    """Today's spend over the runaway limit (one run per day) and month-to-date at the hard cap (one per month)."""
    triggers = []
    if spend.today_cost > t.runaway_daily:
        triggers.append(Trigger(Reason.RUNAWAY, f"runaway:{today.isoformat()}", spend.today_cost, t.runaway_daily))
    if spend.month_to_date >= t.hard_cap:
        triggers.append(Trigger(Reason.HARD_CAP, f"hard_cap:{today:%Y-%m}", spend.month_to_date, t.hard_cap))
    return tuple(triggers)


def still_holds(reason: Reason, spend: SpendSummary, t: Thresholds = GUIDE) -> bool:
    """Whether ``reason`` is still true now; an operator's manual shutdown always proceeds."""
    if reason is Reason.RUNAWAY:
        return spend.today_cost > t.runaway_daily
    if reason is Reason.HARD_CAP:
        return spend.month_to_date >= t.hard_cap
    return True


def holding_reasons(spend: SpendSummary, t: Thresholds = GUIDE) -> tuple[str, ...]:
    """The spend reasons that would refuse a restore right now, as sentences."""
    return tuple(
        describe_reason(reason, figure, threshold)
        for reason, figure, threshold in (
            (Reason.RUNAWAY, spend.today_cost, t.runaway_daily),
            (Reason.HARD_CAP, spend.month_to_date, t.hard_cap),
        )
        if still_holds(reason, spend, t)
    )
