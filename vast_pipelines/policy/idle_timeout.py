"""Idle-timeout what-if: replay request times through a scale-to-zero worker model.

Model: one worker per model. After a request ends, the worker stays warm for ``idle_timeout`` seconds;
a request that arrives while it is cold is a cold start. With ``min_workers >= 1`` a worker is always
warm. The first request of a trace is not judged (its prior state is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vast_pipelines.domain.numbers import float_or_none
from vast_pipelines.policy.guide_words import GuideWords

IDLE_TIMEOUT_GRID = (60, 120, 180, 300, 600, 900, 1200, 1800)
MIN_WORKERS_GRID = (0, 1)


@dataclass(frozen=True)
class Replay:
    """What one setting would have done over a trace."""

    idle_timeout: int
    min_workers: int
    judged_requests: int
    cold_starts: int
    warm_seconds: float

    @property
    def cold_start_rate(self) -> float | None:
        """Cold starts per judged request; None for a trace too short to judge."""
        return self.cold_starts / self.judged_requests if self.judged_requests else None

    def cost(self, usd_per_gpu_hour: float) -> float:
        """Warm GPU time priced per hour."""
        return self.warm_seconds / 3600.0 * usd_per_gpu_hour


def replay(
    starts: Sequence[float],
    durations: Sequence[float | None],
    idle_timeout: float,
    min_workers: int = 0,
    window_seconds: float | None = None,
) -> Replay:
    """Replay requests (start times in seconds, sorted; durations in seconds, None as 0) through one setting.

    An always-warm worker (``min_workers >= 1``) is paid for the whole analysis window (``window_seconds``;
    by default the trace's span plus one idle timeout, what the last request keeps a worker warm anyway).
    """
    if not starts:
        return Replay(int(idle_timeout), min_workers, 0, 0, 0.0)
    if min_workers >= 1:
        span = max(s + (d or 0.0) for s, d in zip(starts, durations, strict=True)) - starts[0]
        window = window_seconds if window_seconds is not None else span + idle_timeout
        return Replay(int(idle_timeout), min_workers, len(starts) - 1, 0, max(window, span) * min_workers)
    cold = 0
    warm = 0.0
    warm_from = starts[0]
    warm_until = starts[0] + (durations[0] or 0.0) + idle_timeout
    for start, duration in zip(starts[1:], durations[1:], strict=True):
        end = start + (duration or 0.0)
        if start > warm_until:
            cold += 1
            warm += warm_until - warm_from
            warm_from = start
        warm_until = max(warm_until, end + idle_timeout)
    warm += warm_until - warm_from
    return Replay(int(idle_timeout), 0, len(starts) - 1, cold, warm)


def grid(
    starts: Sequence[float],
    durations: Sequence[float | None],
    idle_timeouts: Sequence[int] = IDLE_TIMEOUT_GRID,
    min_workers: Sequence[int] = MIN_WORKERS_GRID,
    window_seconds: float | None = None,
) -> list[Replay]:
    """Every (idle timeout, min workers) setting replayed over the same trace and window."""
    results = []
    for workers in min_workers:
        # With a worker always warm the idle timeout no longer matters: one row says it.
        timeouts = idle_timeouts if workers == 0 else idle_timeouts[:1]
        results += [replay(starts, durations, t, workers, window_seconds) for t in timeouts]
    return results


def cheapest_within(replays: Sequence[Replay], max_cold_start_rate: float, usd_per_gpu_hour: float) -> Replay | None:
    """The cheapest setting whose predicted cold-start rate stays at or under the limit."""
    ok = [r for r in replays if r.cold_start_rate is not None and r.cold_start_rate <= max_cold_start_rate]
    return min(ok, key=lambda r: (r.cost(usd_per_gpu_hour), r.min_workers, r.idle_timeout), default=None)


@dataclass(frozen=True)
class Validation:
    """The model replayed at the worker's current setting against the ``cold_start`` flags agent-router logged."""

    idle_timeout: int
    min_workers: int
    predicted_rate: float | None
    observed_rate: float | None

    @property
    def error(self) -> float | None:
        """Predicted minus observed cold-start rate (0.05 = the model predicts 5 points too many)."""
        if self.predicted_rate is None or self.observed_rate is None:
            return None
        return self.predicted_rate - self.observed_rate


def validate(
    starts: Sequence[float],
    durations: Sequence[float | None],
    cold_flags: Sequence[bool | None],
    idle_timeout: int,
    min_workers: int,
) -> Validation:
    """Replay at the current setting and compare with the logged flags of the same (judged) requests."""
    predicted = replay(starts, durations, idle_timeout, min_workers)
    judged = [flag for flag in cold_flags[1:] if flag is not None]
    observed = sum(judged) / len(judged) if judged else None
    return Validation(idle_timeout, min_workers, predicted.cold_start_rate, observed)


# Fields in which Vast.ai answers may carry a worker's price per hour (endpoint, worker group or worker).
PRICE_FIELDS = ("dph_total", "dph", "price_per_hour", "cost_per_hour")


def reported_price(*answers: Mapping[str, Any]) -> float | None:
    """The first positive USD/hour price in Vast.ai's answers, read leniently (its fields are not documented)."""
    for answer in answers:
        for name in PRICE_FIELDS:
            value = float_or_none(answer.get(name))
            if value is not None and value > 0:
                return value
    return None


class PriceSource(StrEnum):
    """Where the USD per warm GPU-hour comes from."""

    CONFIGURED = "configured"
    VAST = "vast"
    LOGGED = "logged"
    UNKNOWN = "unknown"


def gpu_hour_price(
    configured: float, vast_price: float | None, logged_cost: float | None, busy_seconds: float
) -> tuple[float | None, PriceSource]:
    """USD per warm GPU-hour and where it comes from: configured, Vast.ai's price, or the logged cost per busy hour."""
    if configured > 0:
        return configured, PriceSource.CONFIGURED
    if vast_price:
        return vast_price, PriceSource.VAST
    if logged_cost and logged_cost > 0 and busy_seconds > 0:
        return logged_cost / (busy_seconds / 3600.0), PriceSource.LOGGED
    return None, PriceSource.UNKNOWN


def assumed_current(read: GuideWords) -> GuideWords:
    """The endpoint's setting in the replay's words, the guide's defaults (300 s, scale to zero) where unknown."""
    return GuideWords(
        idle_timeout=read.idle_timeout or 300,
        min_workers=read.min_workers if read.min_workers is not None else 0,
    )


def current_replay(replays: Sequence[Replay], current: GuideWords) -> Replay | None:
    """The replay of the current setting, if the grid holds it."""
    for r in replays:
        if current.min_workers and r.min_workers >= 1:
            return r
        if not current.min_workers and r.min_workers == 0 and r.idle_timeout == current.idle_timeout:
            return r
    return None


def is_current(best: Replay, current: GuideWords) -> bool:
    """Whether the best setting is the one the endpoint already has."""
    return (best.min_workers >= 1 and (current.min_workers or 0) >= 1) or (
        best.min_workers == 0 and not current.min_workers and best.idle_timeout == current.idle_timeout
    )


@dataclass(frozen=True)
class WhatIf:
    """One model's replay: every setting, the cheapest within the cold-start limit (None: none is), the current
    setting's replay, the model's check against the logged flags, what moving would save over the window (USD, 0
    with no price) and the move in the guide's words (None: no setting to move to, or already there)."""

    replays: list[Replay]
    best: Replay | None
    now: Replay
    check: Validation
    saving: float
    move: GuideWords | None


def what_if(
    starts: Sequence[float],
    durations: Sequence[float | None],
    cold_flags: Sequence[bool | None],
    current: GuideWords,
    max_cold_start_rate: float,
    usd_per_gpu_hour: float | None,
    window_seconds: float,
) -> WhatIf:
    """Replay the grid over one model's trace and pick the cheapest setting within the cold-start limit."""
    assert current.idle_timeout is not None and current.min_workers is not None
    replays = grid(starts, durations, window_seconds=window_seconds)
    # Any positive price ranks the settings the same way (cost is warm hours × price).
    best = cheapest_within(replays, max_cold_start_rate, usd_per_gpu_hour or 1.0)
    check = validate(starts, durations, cold_flags, current.idle_timeout, current.min_workers)
    now = (
        current_replay(replays, current)
        or grid(starts, durations, (current.idle_timeout,), (min(current.min_workers, 1),), window_seconds)[0]
    )
    saving = 0.0
    if best is not None and usd_per_gpu_hour is not None:
        saving = max(now.cost(usd_per_gpu_hour) - best.cost(usd_per_gpu_hour), 0.0)
    move = None
    if best is not None and not is_current(best, current):
        # Warm → min_workers 1 (min_load, sized by the caller from a worker's perf); else scale to zero.
        move = GuideWords(min_workers=1) if best.min_workers >= 1 else GuideWords(best.idle_timeout, min_workers=0)
    return WhatIf(replays, best, now, check, saving, move)
