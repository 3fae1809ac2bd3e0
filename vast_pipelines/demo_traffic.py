"""Synthetic, clearly labelled request traffic for the embedded demo database (pure: no I/O).

The traffic is shaped relative to "now" in the operator's timezone, so the demo shows the same story on
any day and at any hour, the 1st of a month at 00:05 as the 28th at 23:55:
- ordinary days of about $2-3 (the guide's "Excellent" band), quieter at weekends;
- a runaway day (a stuck 70B worker, over $50) on the Wednesday of the last complete Monday-Sunday week,
  so the last weekly review always flags it;
- a runaway in progress today: a stuck 70B worker since at most two hours ago, which puts today over the
  guide's $50/day and so month-to-date over the first budget level ($50), whatever the day of the month.
The whole month stays under the $200 hard cap.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from vast_pipelines.domain.periods import local_midnight

DEMO_NOTE = "SYNTHETIC DEMO TRAFFIC written by vast-pipelines-demo; not real spend"


@dataclass(frozen=True)
class DemoModel:
    """One served model: daily volume, warm latency, cost per GPU-second and cold-start odds."""

    name: str
    requests_per_day: int
    warm_seconds: float
    usd_per_second: float
    cold_start_odds: float


MODELS = (
    DemoModel("llama-2-7b", 600, 1.4, 0.0005, 0.06),
    DemoModel("llama2:7b", 250, 1.1, 0.0005, 0.08),
    DemoModel("mistral-7b-instruct", 140, 1.3, 0.0005, 0.10),
    DemoModel("llama-3-70b", 28, 6.5, 0.0030, 0.25),
)
STUCK = MODELS[-1]

# Share of a day's requests per local hour: quiet nights, busy working hours.
HOURLY = tuple([0.4] * 7 + [1.2, 1.8, 2.0, 2.0, 1.8, 1.4, 1.8, 2.0, 1.9, 1.6, 1.2] + [0.8] * 6)

# What the stuck worker burns: the past runaway day, and today's runaway in progress.
PAST_RUNAWAY_USD = 58.0
TODAY_RUNAWAY_USD = 54.0
TODAY_RUNAWAY_HOURS = 2


def last_complete_week_wednesday(today: date) -> date:
    """The Wednesday of the last Monday-Sunday week that has ended before ``today``."""
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(days=5)


def demo_rows(now: datetime, tz: ZoneInfo, days: int = 75, seed: int = 7) -> Iterator[tuple]:
    """``(timestamp, model, cost, duration, cold_start)`` rows for the last ``days`` local days up to ``now``.

    About 0.2 % of rows have a NULL cost, as a logging hiccup would leave them.
    """
    rng = random.Random(seed)
    now = now.astimezone(UTC)  # arithmetic in UTC: an hour is an hour, also on a 23- or 25-hour day
    today = now.astimezone(tz).date()
    runaway_day = last_complete_week_wednesday(today)
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        start = local_midnight(day, tz).astimezone(UTC)
        end = min(local_midnight(day + timedelta(days=1), tz).astimezone(UTC), now)
        yield from _ordinary_day(rng, day, start, end, tz)
        if day == runaway_day:
            noon = start + timedelta(hours=10)
            yield from _stuck_worker(rng, noon, noon + timedelta(hours=10), PAST_RUNAWAY_USD)
        if day == today and now > start:
            burning_since = max(start, now - timedelta(hours=TODAY_RUNAWAY_HOURS))
            yield from _stuck_worker(rng, burning_since, now, TODAY_RUNAWAY_USD)


def _ordinary_day(rng: random.Random, day: date, start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[tuple]:
    """A day's traffic in UTC hour slots (a 23- or 25-hour day keeps its real length), weighted by local hour."""
    weekend = day.weekday() >= 5
    total = sum(HOURLY)
    for model in MODELS:
        volume = model.requests_per_day * (0.45 if weekend else 1.0) * rng.uniform(0.85, 1.15)
        slot = start
        while slot < end:
            weight = HOURLY[slot.astimezone(tz).hour] / total
            for _ in range(_poisson(rng, volume * weight)):
                at = slot + timedelta(seconds=rng.uniform(0, 3600))
                if at < end:
                    yield _request(rng, model, at, cold=rng.random() < model.cold_start_odds)
            slot += timedelta(hours=1)


def _stuck_worker(rng: random.Random, start: datetime, end: datetime, usd: float) -> Iterator[tuple]:
    """A stuck 70B worker: back-to-back long requests spread over [start, end) until they cost ``usd``."""
    spent = 0.0
    span = max((end - start).total_seconds(), 1.0)
    while spent <= usd:
        at = start + timedelta(seconds=rng.uniform(0, span))
        row = _request(rng, STUCK, min(at, end - timedelta(microseconds=1)), cold=False, slow=4.0, always_cost=True)
        spent += row[2]
        yield row


def _request(
    rng: random.Random, model: DemoModel, at: datetime, cold: bool, slow: float = 1.0, always_cost: bool = False
) -> tuple:
    duration = model.warm_seconds * slow * rng.lognormvariate(0, 0.35) + (rng.uniform(10, 30) if cold else 0)
    cost = round(duration * model.usd_per_second, 6)
    if not always_cost and rng.random() < 0.002:
        cost = None
    return at, model.name, cost, round(duration, 3), cold


def _poisson(rng: random.Random, mean: float) -> int:
    # Normal approximation is plenty for demo volumes and keeps generation fast.
    return max(0, round(rng.gauss(mean, mean**0.5))) if mean > 0 else 0
