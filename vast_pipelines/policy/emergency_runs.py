"""An emergency is done, not just requested: when to ask for (another) emergency_shutdown run.

Each trigger key (``runaway:YYYY-MM-DD``, ``hard_cap:YYYY-MM``) is answered once a run for it has *completed*
(succeeded, including a run that stood down because the spend no longer exceeds). A run that failed is asked for
again with a new run key (``<key>:retry<n>``) after a back-off, at most ``MAX_ATTEMPTS`` runs per key; a run an
operator cancelled answers the key (the operator decided).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MAX_ATTEMPTS = 4
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(minutes=15)
# A requested run the daemon has not created after this long is requested again (same run key: the daemon
# refuses a duplicate, so this only recovers a request that was lost).
REQUEST_GRACE = timedelta(minutes=10)


class KeyState(StrEnum):
    """Where one trigger key stands."""

    DONE = "done"
    CANCELED = "canceled"
    RUNNING = "running"
    REQUESTED = "requested"
    BACKING_OFF = "backing off"
    GAVE_UP = "gave up"
    DUE = "due"


@dataclass(frozen=True)
class RunHistory:
    """The emergency runs that answered one key, by outcome."""

    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    in_progress: int = 0


def history(statuses: Iterable[str]) -> RunHistory:
    """Count Dagster run statuses (``SUCCESS``, ``FAILURE``, ``CANCELED``; anything else is in progress)."""
    counts = {"SUCCESS": 0, "FAILURE": 0, "CANCELED": 0, "other": 0}
    for status in statuses:
        counts[status if status in counts else "other"] += 1
    return RunHistory(counts["SUCCESS"], counts["FAILURE"], counts["CANCELED"], counts["other"])


def backoff(failures: int) -> timedelta:
    """Wait after the ``failures``-th failed run before the next: 1, 2, 4, ... minutes, at most 15."""
    return min(FIRST_BACKOFF * (2 ** max(failures - 1, 0)), MAX_BACKOFF)


def run_key(key: str, attempt: int) -> str:
    """The run key of attempt ``attempt`` (0 is the first run) for trigger ``key``."""
    return key if attempt == 0 else f"{key}:retry{attempt}"


@dataclass(frozen=True)
class Memory:
    """What the sensor remembers of one key between ticks (its cursor): the attempt it last asked for and when,
    and the failures seen with the time the next attempt may start."""

    requested_attempt: int | None = None
    requested_at: datetime | None = None
    failures_seen: int = 0
    retry_at: datetime | None = None


def key_state(
    runs: RunHistory, memory: Memory, now: datetime, max_attempts: int = MAX_ATTEMPTS
) -> tuple[KeyState, Memory]:
    """Where a key stands and what to remember; ``DUE`` means request attempt ``runs.failed`` now."""
    if runs.succeeded:
        return KeyState.DONE, memory
    if runs.canceled:
        return KeyState.CANCELED, memory
    if runs.in_progress:
        return KeyState.RUNNING, memory
    if runs.failed >= max_attempts:
        return KeyState.GAVE_UP, memory
    if runs.failed > memory.failures_seen:
        memory = Memory(memory.requested_attempt, memory.requested_at, runs.failed, now + backoff(runs.failed))
    if memory.retry_at is not None and now < memory.retry_at and runs.failed:
        return KeyState.BACKING_OFF, memory
    waiting_for_run = memory.requested_attempt == runs.failed and memory.requested_at is not None
    if waiting_for_run and now - memory.requested_at < REQUEST_GRACE:
        return KeyState.REQUESTED, memory
    return KeyState.DUE, memory


def requested(memory: Memory, attempt: int, now: datetime) -> Memory:
    """``memory`` after asking for ``attempt``."""
    return Memory(attempt, now, memory.failures_seen, memory.retry_at)
