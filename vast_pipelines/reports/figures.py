"""Figures as the guide prints them: what metadata and text show, rounded as the guide's SQL rounds.

The guide writes ``ROUND(SUM(cost)::numeric, 2)`` for dollars, ``ROUND((SUM(cost) / COUNT(*))::numeric, 5)``
per request, and ``ROUND(AVG(...)::numeric, 2)`` for durations and the cold-start rate. Tables in PostgreSQL
keep money exact; only what an operator reads is rounded. PostgreSQL rounds numeric half away from zero,
so these do too (Python's ``round`` rounds half to even, on a binary float).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DOLLAR_PLACES = 2
PER_REQUEST_PLACES = 5
SECOND_PLACES = 2
RATE_PLACES = 2


def rounded(value: float | Decimal | None, places: int) -> float | None:
    """``ROUND(value, places)`` as PostgreSQL rounds numeric; None stays None."""
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def round_money(value: Decimal | None, places: int) -> Decimal | None:
    """Round as PostgreSQL's ``ROUND(numeric, places)`` does (half away from zero), keeping the exact type."""
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def usd(value: float | None) -> str:
    """Money for display: ``$12.34``; unknown is shown as such, never as $0.00."""
    return "unknown" if value is None else f"${value:,.2f}"


def money(value: Decimal | float | None, places: int = 2) -> str:
    """USD for display, rounded as the guide's SQL rounds; unknown stays unknown."""
    if value is None:
        return "unknown"
    rounded = round_money(Decimal(str(value)) if isinstance(value, float) else value, places)
    return f"${rounded:,.{places}f}"


def dollars(value: float | Decimal | None) -> float | None:
    """USD to the cent, as the guide's ``ROUND(SUM(cost)::numeric, 2)``."""
    return rounded(value, DOLLAR_PLACES)


def per_request(value: float | Decimal | None) -> float | None:
    """USD per request to 5 places, as the guide's ``ROUND((SUM(cost) / COUNT(*))::numeric, 5)``."""
    return rounded(value, PER_REQUEST_PLACES)


def places_for(key: str) -> int | None:
    """How many places the metadata figure ``key`` is shown with; None for counts and anything not a figure."""
    if "per_request" in key:
        return PER_REQUEST_PLACES
    if key.endswith("_sec") or key.endswith("_seconds"):
        return SECOND_PLACES
    if key.endswith("_rate") or key.endswith("_share"):
        return RATE_PLACES
    return DOLLAR_PLACES


def guide_figures(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` with every float figure rounded by its key (per request 5 places, seconds and rates 2,
    dollars 2); ints, text and other values untouched."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, float | Decimal) and not isinstance(value, bool):
            places = places_for(key)
            out[key] = rounded(value, places) if places is not None else value
        else:
            out[key] = value
    return out


def figure(key: str, value: Any) -> Any:
    """One figure rounded by its name (see ``places_for``); anything not a float as it is."""
    return guide_figures({key: value})[key]
