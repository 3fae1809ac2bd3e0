"""Numbers read leniently from outside answers (Vast.ai's JSON): absent or not a number reads as None.

Shared by the resources that read those answers and the decisions that read them again, so both read alike.
"""

from __future__ import annotations

from typing import Any


def float_or_none(value: Any) -> float | None:
    """``value`` as a float; None when it is None or not a number."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def int_or_none(value: Any) -> int | None:
    """``value`` as an int; None when it is None or not a whole number."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
