"""Synthetic, clearly labelled request traffic for the embedded demo database (pure: no I/O)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

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
    DemoModel("llama-2-7b", 900, 1.4, 0.0005, 0.06),
    DemoModel("llama2:7b", 380, 1.1, 0.0005, 0.08),
    DemoModel("mistral-7b-instruct", 220, 1.3, 0.0005, 0.10),
    DemoModel("llama-3-70b", 45, 6.5, 0.0030, 0.25),
)

# Share of a day's requests per hour: quiet nights, busy working hours.
HOURLY = tuple([0.4] * 7 + [1.2, 1.8, 2.0, 2.0, 1.8, 1.4, 1.8, 2.0, 1.9, 1.6, 1.2] + [0.8] * 6)


def demo_rows(now: datetime, days: int = 75, seed: int = 7, runaway_days_ago: int = 9) -> Iterator[tuple]:
    """``(timestamp, model, cost, duration, cold_start)`` rows for the last ``days`` days up to ``now``.

    One day (``runaway_days_ago``) has a stuck 70B worker burning well over $50, the guide's runaway
    threshold; about 0.2 % of rows have a NULL cost, as a logging hiccup would leave them.
    """
    rng = random.Random(seed)
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    weights = [h / sum(HOURLY) for h in HOURLY]
    day = start
    while day < now:
        weekend = day.weekday() >= 5
        runaway = (now.date() - day.date()).days == runaway_days_ago
        for model in MODELS:
            volume = model.requests_per_day * (0.45 if weekend else 1.0) * rng.uniform(0.85, 1.15)
            if runaway and model.name == "llama-3-70b":
                volume *= 70
            for hour, weight in enumerate(weights):
                for _ in range(_poisson(rng, volume * weight)):
                    at = day + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                    if at >= now:
                        continue
                    cold = rng.random() < model.cold_start_odds
                    duration = model.warm_seconds * rng.lognormvariate(0, 0.35) + (rng.uniform(10, 30) if cold else 0)
                    cost = None if rng.random() < 0.002 else round(duration * model.usd_per_second, 6)
                    yield at, model.name, cost, round(duration, 3), cold
        day += timedelta(days=1)


def _poisson(rng: random.Random, mean: float) -> int:
    # Normal approximation is plenty for demo volumes and keeps generation fast.
    return max(0, round(rng.gauss(mean, mean**0.5))) if mean > 0 else 0
