"""The embedded demo database's synthetic traffic: written into ``vast_ai_costs`` and labelled in
``demo_traffic``, which exists in the embedded database only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from vast_pipelines.store.base import Store

# Created (repeatably) in the embedded database only, with its copy of vast_ai_costs.
EMBEDDED_DDL: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.demo_traffic (
        generated_at timestamptz NOT NULL DEFAULT now(),
        first_request timestamptz NOT NULL,
        last_request timestamptz NOT NULL,
        requests bigint NOT NULL,
        seed integer NOT NULL,
        note text NOT NULL
    )
    """,
)

# The synthetic traffic is replaced whole: the history and reports of the old traffic go with it.
_RESET = (
    "TRUNCATE vast_ai_costs",
    """
    TRUNCATE vast_pipelines.daily_cost_history, vast_pipelines.daily_cost_history_days,
        vast_pipelines.weekly_cost_report, vast_pipelines.cost_reports
    """,
    "DELETE FROM vast_pipelines.demo_traffic",
)

_COPY = 'COPY vast_ai_costs ("timestamp", model, cost, duration, cold_start) FROM STDIN'

_LABEL = """
INSERT INTO vast_pipelines.demo_traffic (first_request, last_request, requests, seed, note)
VALUES (:first, :last, :requests, :seed, :note)
"""

_FIRST_REQUEST = "SELECT min(first_request) FROM vast_pipelines.demo_traffic"


class DemoStore(Store):
    """Synthetic traffic for the embedded demo database."""

    def replace_traffic(self, rows: Sequence[tuple], *, seed: int, note: str) -> None:
        """Replace ``vast_ai_costs`` (and what was derived from it) with ``rows`` of (timestamp, model, cost,
        duration, cold_start), copied in bulk, and label them."""
        with self._begin() as conn:
            for statement in _RESET:
                conn.execute(sa.text(statement))
            with conn.connection.driver_connection.cursor() as cursor, cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            label = {"first": min(r[0] for r in rows), "last": max(r[0] for r in rows), "requests": len(rows)}
            conn.execute(sa.text(_LABEL), {**label, "seed": seed, "note": note})

    def first_request(self) -> datetime | None:
        """The first synthetic request, as the demo recorded it."""
        with self._begin() as conn:
            return conn.execute(sa.text(_FIRST_REQUEST)).scalar()
