"""What Vast.ai billed: serverless charges per UTC day, asked and read as ``vastai show invoices-v1`` does."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from vast_pipelines.resources.vast.transport import VastAIError, VastClient
from vast_pipelines.resources.vast.wire import shape

CHARGES_PAGE = 100  # the official client's (and the API's) largest page
MAX_CHARGE_PAGES = 50


def _query(args: dict[str, Any]) -> dict[str, str]:
    """Query arguments as the official client writes them: strings as they are, anything else as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}


def _charge_row(row: Any, what: str) -> tuple[str, float]:
    """A charge row's type and amount (USD), as the official client reads them."""
    if not isinstance(row, dict):
        raise VastAIError(f"Vast.ai {what} answered a charge row that is {shape(row)}, not an object")
    amount, kind = row.get("amount"), row.get("type")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not isinstance(kind, str):
        got = ", ".join(f"{k}={row.get(k)!r}" for k in ("type", "amount"))
        raise VastAIError(
            f"Vast.ai {what} answered a charge row without a string type and a numeric amount "
            f"({got}; keys: {', '.join(sorted(map(str, row))[:10])})"
        )
    return kind, float(amount)


def daily_charges(client: VastClient, path: str, start: date, end: date, charge_type: str) -> dict[date, float]:
    """USD billed per UTC day in ``[start, end)`` for ``charge_type`` (``GET /api/v0/charges/`` at ``path``).

    Asked as ``vastai show invoices-v1 --charges -ct serverless`` asks: ``select_filters`` on ``day`` (unix
    seconds, gte/lte) and ``type``, pages of 100 followed by ``next_token``. A row is one contract's charges
    over the asked days (its ``start``/``end`` are the contract's, which can span several days: Vast.ai's
    "show charges" reference), so each UTC day is asked on its own and its rows' ``amount`` summed. A row
    or answer of another shape is an error that says what came.
    """
    totals: dict[date, float] = {}
    day = start
    while day < end:
        first = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
        amount = _charges_between(client, path, first, first + 86_399, charge_type)
        if amount is not None:
            totals[day] = amount
        day = date.fromordinal(day.toordinal() + 1)
    return totals


def _charges_between(client: VastClient, path: str, first: int, last: int, charge_type: str) -> float | None:
    """The sum of ``charge_type`` charges between two unix seconds (inclusive), or None without any row."""
    query: dict[str, Any] = {
        "select_filters": {"day": {"gte": first, "lte": last}, "type": {"in": [charge_type]}},
        "latest_first": False,
        "limit": CHARGES_PAGE,
        "format": "table",
    }
    what = f"GET {path}"
    total: float | None = None
    for _page in range(MAX_CHARGE_PAGES):
        body = client.call("GET", client.api_url, path, params=_query(query))
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise VastAIError(f'Vast.ai {what} answered {shape(body)}, not {{"results": [...]}}')
        for row in body["results"]:
            kind, amount = _charge_row(row, what)
            if kind == charge_type:
                total = (total or 0.0) + amount
        token = body.get("next_token")
        if not token:
            return total
        query["after_token"] = token
    raise VastAIError(f"Vast.ai {what} still had pages after {MAX_CHARGE_PAGES} of {CHARGES_PAGE} rows")
