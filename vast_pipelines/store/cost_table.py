"""``vast_ai_costs``, the table agent-router writes: its columns, what counts as money in it, and (in the
embedded demo database only) its DDL. The pipelines only read it."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vast_pipelines.store.errors import CostTableMissing

COST_TABLE = "vast_ai_costs"
# The guide's columns.
COST_COLUMNS = {
    "timestamp": "timestamp with time zone",
    "model": "text",
    "cost": "numeric",
    "duration": "double precision",
    "cold_start": "boolean",
}
# The types each column may have (information_schema's data_type): a cost must be a number, a timestamp must
# carry its time zone (a naive one is a different instant in every zone), cold_start must be true/false.
COST_COLUMN_TYPES = {
    "timestamp": ("timestamp with time zone",),
    "model": ("text", "character varying", "character"),
    "cost": ("numeric", "double precision", "real"),
    "duration": ("double precision", "real", "numeric", "integer", "bigint", "smallint"),
    "cold_start": ("boolean",),
}
# How each column's expected type is named in messages.
EXPECTED_TYPE = {
    "timestamp": "timestamptz",
    "model": "text",
    "cost": "numeric",
    "duration": "double precision",
    "cold_start": "boolean",
}
# What each reader needs: a sensor only needs the columns it reads.
SPEND_COLUMNS = ("timestamp", "cost")

# --- What counts as money -------------------------------------------------------------------------------
# A cost is money only when it is a finite amount. NaN sorts above every number in PostgreSQL and +-Infinity lies
# outside any range, so one range test excludes them from a numeric or a double precision column alike (and
# amounts beyond what a float holds to the cent: no request costs a trillion dollars).
# Spend is what was charged: costs of 0 or more. A negative cost (a credit, a refund, or a bug) is counted and
# totalled apart, never subtracted: one row of -100 must not hide $60 of real spend from the runaway check.
CHARGED = "(cost >= 0 AND cost <= 1e12)"
CREDIT = "(cost < 0 AND cost >= -1e12)"
# Not NULL and not money: NaN, Infinity, -Infinity, or beyond +-1e12.
INVALID_COST = "(cost IS NOT NULL AND NOT (cost BETWEEN -1e12 AND 1e12))"
# Durations (seconds) that are numbers: NaN or Infinity would break every average, percentile and JSON document.
FINITE_DURATION = "(duration BETWEEN -1e12 AND 1e12)"
# Requests with no model are kept under this name wherever a model is a key (it cannot be NULL there).
NO_MODEL = "(no model)"
# A model name as stored, grouped and shown: long names (a 10 MB bug) become a short, still unique label.
MODEL_LABEL = (
    "COALESCE(CASE WHEN octet_length(model) <= 200 THEN model ELSE left(model, 64) || '… (' || length(model) "
    "|| ' characters, md5 ' || left(md5(model), 12) || ')' END, :no_model)"
)

# The table as agent-router creates it, for the embedded demo database (and the tests' databases).
COST_TABLE_DDL: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS public.vast_ai_costs (
        "timestamp" timestamptz NOT NULL,
        model text,
        cost numeric,
        duration double precision,
        cold_start boolean
    )
    """,
    'CREATE INDEX IF NOT EXISTS vast_ai_costs_timestamp ON public.vast_ai_costs ("timestamp")',
)

_COLUMNS = """
SELECT column_name, data_type
FROM information_schema.columns
WHERE table_name = :table AND table_schema = ANY (current_schemas(false))
"""


def columns(conn: Connection) -> dict[str, str]:
    """``vast_ai_costs``'s columns on the search path and their types (empty: no such table)."""
    return {name: dtype for name, dtype in conn.execute(sa.text(_COLUMNS), {"table": COST_TABLE})}


def check_columns(found: dict[str, str], needed: Sequence[str], where: str) -> None:
    """Raise ``CostTableMissing`` naming, in one message, every column of ``needed`` that ``found`` (the table's
    columns in database ``where``) lacks or holds with the wrong type, with the type expected."""
    if not found:
        raise CostTableMissing(
            f"Table {COST_TABLE} does not exist in {where}. agent-router writes it; "
            f"expected columns: {', '.join(f'{c} {t}' for c, t in COST_COLUMNS.items())}. "
            "Point TIMESCALE_URL at the analytics database, or unset it for the embedded demo."
        )
    missing = [f"{c} ({COST_COLUMNS[c]})" for c in needed if c not in found]
    wrong = [
        f"{c} is {found[c]} (expected {c} {EXPECTED_TYPE[c]})"
        for c in needed
        if c in found and found[c] not in COST_COLUMN_TYPES[c]
    ]
    if missing or wrong:
        said = []
        if missing:
            said.append(f"lacks column(s) {', '.join(missing)}")
        if wrong:
            said.append(f"has the wrong type: {'; '.join(wrong)}")
        raise CostTableMissing(
            f"Table {COST_TABLE} in {where} {' and '.join(said)}. This check needs "
            f"{', '.join(needed)}. Fix the table agent-router writes (e.g. ALTER TABLE {COST_TABLE} ALTER "
            "COLUMN cost TYPE numeric USING cost::numeric); nothing was read or changed."
        )
