"""Numbers read leniently from outside answers (Vast.ai's JSON): absent or not a number reads as None.

Shared by the resources that read those answers and the decisions that read them again, so both read alike.
JSON may carry ``NaN``, ``Infinity`` or ``1e400`` (read as infinity): none of them is a setting or a price.
"""

from __future__ import annotations

import math
from typing import Any


def float_or_none(value: Any) -> float | None:
    """``value`` as a finite float; None when it is None, not a number, NaN or infinite."""
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None


def int_or_none(value: Any) -> int | None:
    """``value`` as an int; None when it is None, not a number, or not a whole finite number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = float_or_none(value)
    return int(number) if number is not None and number.is_integer() else None
