"""Text of the idle-timeout what-if: each model's grid, the model check, the advice as a ready update_worker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vast_pipelines.policy.guide_words import Translation
from vast_pipelines.policy.idle_timeout import PriceSource, Replay, Validation, WhatIf
from vast_pipelines.reports.deploy import update_worker_recommendation
from vast_pipelines.reports.figures import usd

PRICE_SOURCES = {
    PriceSource.CONFIGURED: "gpu_hour_usd (VAST_PIPELINES_THRESHOLDS)",
    PriceSource.VAST: "the Vast.ai endpoint's price",
    PriceSource.LOGGED: "logged cost per busy GPU-hour (no price from Vast.ai)",
    PriceSource.UNKNOWN: "unknown (set gpu_hour_usd in VAST_PIPELINES_THRESHOLDS)",
}


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _rate(r: Replay) -> str:
    return "n/a" if r.cold_start_rate is None else f"{r.cold_start_rate:.0%}"


def what_if_table(replays: Sequence[Replay], price: float | None, best: Replay | None) -> str:
    """The grid as a Markdown table: setting, predicted cold-start rate, warm GPU hours and cost."""
    lines = [
        "| idle_timeout | min_workers | cold starts | cold_start_rate | warm GPU h | cost |",
        "|---|---|---|---|---|---|",
    ]
    for r in replays:
        mark = " ✅" if r is best else ""
        timeout = f"{r.idle_timeout} s" if r.min_workers == 0 else "any"
        cost = usd(r.cost(price)) if price is not None else "n/a"
        lines.append(
            f"| {timeout}{mark} | {r.min_workers} | {r.cold_starts:,}/{r.judged_requests:,} | "
            f"{_pct(r.cold_start_rate)} | {r.warm_seconds / 3600:,.1f} | {cost} |"
        )
    return "\n".join(lines)


def validation_line(v: Validation) -> str:
    """The model's error against the logged cold_start flags."""
    if v.error is None:
        return "Model check: no logged cold_start flags to compare with."
    return (
        f"Model check at the current setting (idle_timeout {v.idle_timeout} s, min_workers {v.min_workers}): "
        f"predicted cold-start rate {_pct(v.predicted_rate)}, logged {_pct(v.observed_rate)}, "
        f"error {v.error * 100:+.1f} points"
    )


def advice(
    name: str,
    found: bool,
    result: WhatIf,
    translation: Translation | None,
    price: float | None,
    limit: float,
    location: str,
) -> str:
    """The recommendation as a ready `update_worker` config (a Launchpad link into ``location``), or why there is
    none."""
    best, now = result.best, result.now
    if best is None:
        return f"No setting in the grid keeps the cold-start rate within {limit:.0%} (or too few requests to judge)."
    if translation is None:
        return "The current setting is already the cheapest within the cold-start limit."
    cost = f"{usd(now.cost(price))} → {usd(best.cost(price))} over the window" if price is not None else "cost unknown"
    rates = f"cold-start rate {_rate(now)} → {_rate(best)}"
    setting = f"min_workers {best.min_workers}" if best.min_workers else f"idle_timeout {best.idle_timeout} s"
    return (
        f"**Recommended: {setting}** ({rates}; warm {now.warm_seconds / 3600:,.1f} → {best.warm_seconds / 3600:,.1f} "
        f"GPU h; {cost}).\n\n{'; '.join(translation.lines)}.\n\n"
        f"{update_worker_recommendation(name, translation.settings, location)}"
        + ("" if found else f"\n\n(No endpoint named `{name}` on Vast.ai: correct the name before launching.)")
    )


def model_section(
    model: str,
    requests: int,
    name: str,
    found: bool,
    price: float | None,
    source: PriceSource,
    result: WhatIf,
    advised: str,
) -> str:
    """One model: its endpoint, the price used, the model check, the grid and the advice."""
    return "\n\n".join(
        [
            f"### {model} — {requests:,} requests, endpoint `{name}`{'' if found else ' (not found on Vast.ai)'}",
            f"Price: {usd(price) + '/GPU-hour' if price is not None else 'unknown'} ({PRICE_SOURCES[source]})",
            validation_line(result.check),
            what_if_table(result.replays, price, result.best),
            advised,
        ]
    )


def what_if_report(days: int, requests: int, vast_error: str | None, sections: Sequence[str]) -> str:
    """The whole what-if: the window, whether Vast.ai said the current settings, then one section per model."""
    note = f"current settings unknown ({vast_error}); the guide's defaults assumed" if vast_error else ""
    head = f"Idle-timeout what-if over the last {days} days ({requests:,} requests). {note}".strip()
    return "\n\n".join([head, *sections] if sections else [head, "No requests logged in the window."])


def recommended_setting_text(row: Mapping[str, Any]) -> str:
    """A model's last recommended setting, as the weekly review cites it."""
    setting = f"min_workers {row['min_workers']}" if row["min_workers"] else f"idle_timeout {row['idle_timeout']} s"
    return (
        setting + f" keeps the cold-start rate at {row['cold_start_rate']:.0%} for {row['warm_gpu_hours']:,.1f} "
        f"warm GPU h (idle_timeout_what_if, {row['window_start']:%Y-%m-%d} to {row['window_end']:%Y-%m-%d})"
    )
