"""The outbox's message kinds, how long each may wait, and what expired undelivered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Reports and notices that are read, not acted on; every other kind (budget levels, emergencies, outages,
# stale data, anomalies, the digest of expired messages itself) is an alert.
REPORT_KINDS = frozenset({"health_check", "weekly", "monthly", "deploy", "deploy_failed", "update_worker"})
DIGEST_KIND = "outbox_expired"


@dataclass(frozen=True)
class MaxAges:
    """Seconds an undelivered message may wait before it expires, for reports and for everything else."""

    alert_seconds: float
    report_seconds: float
    report_kinds: tuple[str, ...] = tuple(sorted(REPORT_KINDS))


@dataclass(frozen=True)
class Expired:
    """One message that expired undelivered."""

    id: int
    kind: str
    transport: str
    age_seconds: float


@dataclass(frozen=True)
class ExpiredDigest:
    """What one digest says: how many expired, of which kinds, ids and the oldest age."""

    count: int
    by_kind: tuple[tuple[str, int], ...]
    first_id: int
    last_id: int
    oldest_seconds: float


def digest(expired: Iterable[Expired]) -> ExpiredDigest | None:
    """The one summary of messages that expired together; None when nothing expired."""
    rows = list(expired)
    if not rows:
        return None
    kinds = Counter(row.kind for row in rows)
    return ExpiredDigest(
        count=len(rows),
        by_kind=tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0]))),
        first_id=min(row.id for row in rows),
        last_id=max(row.id for row in rows),
        oldest_seconds=max(row.age_seconds for row in rows),
    )


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt: delivered, failed, or not configured."""

    status: str
    ref: str | None = None
    error: str | None = None
