"""A review's concerns in words, and the review as it is kept in ``vast_pipelines.cost_reports``."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from vast_pipelines.policy.reviews import Concern, ConcernKind, Review
from vast_pipelines.reports.recommendations import recommendation_record


def _dates(days: tuple[date, ...]) -> str:
    shown = ", ".join(f"{d:%Y-%m-%d}" for d in days[:7])
    return shown + (f" and {len(days) - 7} more" if len(days) > 7 else "")


def concern_text(c: Concern) -> str:
    """One concern as the review says it."""
    kind = c.kind
    if kind is ConcernKind.NOT_ROLLED_UP:
        return (
            f"{len(c.days)} day(s) are not in the cost history ({_dates(c.days)}): counted as no data; "
            "materialize daily_cost_history for them"
        )
    if kind is ConcernKind.NO_COST_LOGGED:
        return f"No requests with a cost were logged on {_dates(c.days)} (is agent-router writing costs?)"
    if kind is ConcernKind.NULL_COSTS:
        return f"{c.count:,} request(s) have no cost (NULL): not counted as money"
    if kind is ConcernKind.INVALID_COSTS:
        return (
            f"{c.count:,} request(s) have a cost that is not a finite number "
            "(NaN, Infinity or beyond ±$1e12): not counted as money"
        )
    if kind is ConcernKind.NEGATIVE_COSTS:
        credit = f" ({c.amount:,.2f} USD in total)" if c.amount is not None else ""
        return f"{c.count:,} request(s) have a negative cost{credit}: credits, not subtracted"
    if kind is ConcernKind.OTHER_ZONE:
        return (
            f"{_dates(c.days)} were rolled up in another time zone than {c.zone}: "
            "re-materialize daily_cost_history for them"
        )
    if kind is ConcernKind.HIGH_DAYS:
        return f"High daily cost (≥ ${c.limit:,.0f}) on {_dates(c.days)}"
    if kind is ConcernKind.HARD_CAP_REACHED:
        return f"The ${c.limit:,.0f} hard cap was reached on {c.days[0]:%Y-%m-%d}"
    if kind is ConcernKind.HARD_CAP_AHEAD:
        return f"At this rate the ${c.limit:,.0f} hard cap is hit on {c.days[0]:%Y-%m-%d}"
    if kind is ConcernKind.FORECAST_OVER_ALERT:
        return f"Month-end forecast ${c.amount:,.2f} is over the ${c.limit:,.0f} budget alert"
    return f"Over budget: ${c.amount:,.2f} > ${c.limit:,.0f}"


def concern_lines(review: Review) -> list[str]:
    """Every concern of the review, in its order."""
    return [concern_text(c) for c in review.concerns]


def review_record(review: Review) -> dict[str, Any]:
    """The review's figures as kept with the report: recommendations and concerns in words."""
    record = dataclasses.asdict(review)
    record["recommendations"] = [recommendation_record(r) for r in review.recommendations]
    record["concerns"] = concern_lines(review)
    return record
