"""The guide's "Runaway Costs" emergency: when it triggers and whether it still holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from vast_pipelines.domain.emergency import EndpointMove, Move, ShutdownMode
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE, Thresholds


class Reason(StrEnum):
    """Why an emergency shutdown runs."""

    RUNAWAY = "runaway"
    HARD_CAP = "hard_cap"
    MANUAL = "manual"


@dataclass(frozen=True)
class Exceeded:
    """A spend reason that holds: the figure and the limit it is over."""

    reason: Reason
    spend: float
    threshold: float


@dataclass(frozen=True)
class Trigger(Exceeded):
    """One reason to run the emergency shutdown, with the run key that makes it fire once."""

    run_key: str


def emergency_triggers(spend: SpendSummary, today: date, limits: Thresholds = GUIDE) -> tuple[Trigger, ...]:
    """Today's spend over the runaway limit (one run per day) and month-to-date at the hard cap (one per month)."""
    triggers = []
    if spend.today_cost > limits.runaway_daily:
        triggers.append(Trigger(Reason.RUNAWAY, spend.today_cost, limits.runaway_daily, f"runaway:{today.isoformat()}"))
    if spend.month_to_date >= limits.hard_cap:
        triggers.append(Trigger(Reason.HARD_CAP, spend.month_to_date, limits.hard_cap, f"hard_cap:{today:%Y-%m}"))
    return tuple(triggers)


def still_holds(reason: Reason, spend: SpendSummary, limits: Thresholds = GUIDE) -> bool:
    """Whether ``reason`` is still true now; an operator's manual shutdown always proceeds."""
    if reason is Reason.RUNAWAY:
        return spend.today_cost > limits.runaway_daily
    if reason is Reason.HARD_CAP:
        return spend.month_to_date >= limits.hard_cap
    return True


def holding_reasons(spend: SpendSummary, limits: Thresholds = GUIDE) -> tuple[Exceeded, ...]:
    """The spend reasons that would refuse a restore right now."""
    return tuple(
        Exceeded(reason, figure, threshold)
        for reason, figure, threshold in (
            (Reason.RUNAWAY, spend.today_cost, limits.runaway_daily),
            (Reason.HARD_CAP, spend.month_to_date, limits.hard_cap),
        )
        if still_holds(reason, spend, limits)
    )


def shutdown_moves(endpoints: Sequence[Mapping[str, Any]], mode: ShutdownMode) -> list[EndpointMove]:
    """Stop (or delete) each endpoint; one already stopped needs no stop (a stopped one is still deleted)."""
    move = Move.DELETE if mode is ShutdownMode.DELETE else Move.STOP
    return [
        EndpointMove(dict(e), Move.ALREADY if move is Move.STOP and e["state"] == "stopped" else move)
        for e in endpoints
    ]


def after_shutdown(moves: Sequence[EndpointMove], mode: ShutdownMode) -> list[dict[str, Any]]:
    """The endpoints as the shutdown left them: those it stopped (or deleted) in their new state."""
    state = "deleted" if mode is ShutdownMode.DELETE else "stopped"
    return [{**m.endpoint, "state": state} if m.done else m.endpoint for m in moves]


def resume_moves(endpoints: Sequence[Mapping[str, Any]], stopped_before: Iterable[int]) -> list[EndpointMove]:
    """Resume each stopped endpoint, except those that were stopped before the emergency."""
    before = set(stopped_before)
    return [
        EndpointMove(
            dict(e),
            Move.ALREADY if e["state"] != "stopped" else Move.LEAVE if e["id"] in before else Move.RESUME,
        )
        for e in endpoints
    ]


def left_behind(incidents: Iterable[Mapping[str, Any]]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """What the open incidents say the way back must respect: the endpoint ids that were stopped before the
    emergency (left stopped), and the names of those the emergency deleted (to redeploy)."""
    stopped_before, deleted = set(), set()
    for incident in incidents:
        for endpoint in (incident["before_state"] or {}).get("endpoints") or []:
            if endpoint.get("state") == "stopped":
                stopped_before.add(endpoint["id"])
        for endpoint in (incident["after_state"] or {}).get("endpoints") or []:
            if endpoint.get("state") == "deleted":
                deleted.add(endpoint["name"])
    return tuple(sorted(stopped_before)), tuple(sorted(deleted))


def missing_endpoints(names: Iterable[str], listed: Iterable[str], malformed: Iterable[str]) -> list[str]:
    """The endpoints named in VAST_ENDPOINTS that the account's list has neither whole nor malformed."""
    return sorted(set(names) - set(listed) - {m.split(" (")[0] for m in malformed})
