"""The guide's "Service Down": when consecutive failed checks become an outage, and when it is over."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class OutageAction(StrEnum):
    """What a check of an endpoint calls for."""

    NONE = "none"
    OPEN = "open"
    RECOVER = "recover"


def outage_action(recent_online: list[bool], checks_needed: int, outage_open: bool) -> OutageAction:
    """Open an outage after ``checks_needed`` failed checks in a row; close it on the first good check.

    ``recent_online`` is newest first and includes this check. An outage already open is never opened
    again, so a long outage is announced once, not every five minutes.
    """
    if not recent_online:
        return OutageAction.NONE
    if recent_online[0]:
        return OutageAction.RECOVER if outage_open else OutageAction.NONE
    needed = max(int(checks_needed), 1)
    down_in_a_row = len(recent_online[:needed]) == needed and not any(recent_online[:needed])
    return OutageAction.OPEN if down_in_a_row and not outage_open else OutageAction.NONE


def down_since(recent: list[tuple[bool, datetime]]) -> datetime | None:
    """When the current run of failed checks began (``recent`` newest first), or None if the last check passed."""
    since = None
    for online, checked_at in recent:
        if online:
            break
        since = checked_at
    return since
