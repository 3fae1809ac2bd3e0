"""Reconciling what agent-router logged with what Vast.ai billed, day by day."""

from __future__ import annotations

from datetime import date

from vast_pipelines.domain.insights import DayReconciliation


def reconcile_day(
    day: date, logged: float, billed: float | None, tolerance: float = 0.10, min_billed: float = 0.50
) -> DayReconciliation:
    """``difference = billed - logged``; diverged when its share of the bill exceeds ``tolerance``.

    Days billed under ``min_billed`` USD are too small for a share to mean anything; unknown bills never diverge.
    """
    if billed is None:
        return DayReconciliation(day, logged, None, None, None, False)
    difference = billed - logged
    if billed < min_billed:
        return DayReconciliation(day, logged, billed, difference, None, abs(difference) >= min_billed)
    share = difference / billed
    return DayReconciliation(day, logged, billed, difference, share, abs(share) > tolerance)
