"""Versioned migrations of the ``vast_pipelines`` schema, recorded in ``vast_pipelines.schema_version``.

Each table group's module declares its ``MIGRATIONS``. Version 1 is every table as it stood before versions were
kept, written to be repeatable (``IF NOT EXISTS``, guarded fix-ups): a database created then has tables but no
``schema_version``, and is adopted by running version 1 over it. A later version alters what exists; it is
declared by one module only, numbered next across the package, never edited once released, and runs exactly
once: in the transaction that records it, under an advisory lock that serialises every process migrating the
same database (two code servers starting at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import ModuleType

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vast_pipelines.store import (
    alerts,
    cost_history,
    cost_reports,
    cost_table,
    demo,
    health,
    incidents,
    insights,
    outbox,
    spend_minutes,
    worker_changes,
)
from vast_pipelines.store.base import SCHEMA, Migration

# Serialises concurrent migrations (the key the schema was created under before versions were kept, so an older
# process starting at the same time waits too).
LOCK_KEY = 0x7A57_0001

# The modules whose tables the pipelines keep, in the order version 1 creates them.
MODULES: tuple[ModuleType, ...] = (
    health,
    outbox,
    worker_changes,
    alerts,
    incidents,
    cost_history,
    spend_minutes,
    cost_reports,
    insights,
)

# The embedded demo database only: its copy of vast_ai_costs and the label of its synthetic traffic, created
# repeatably at every start (outside the versions: no production database has them).
EMBEDDED_DDL = cost_table.COST_TABLE_DDL + demo.EMBEDDED_DDL

_PREPARE = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""
    CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)
_LOCK = "SELECT pg_advisory_xact_lock(:key)"
_APPLIED = f"SELECT version FROM {SCHEMA}.schema_version"
_RECORD = f"INSERT INTO {SCHEMA}.schema_version (version) VALUES (:version)"


def collect(declared: Iterable[Migration]) -> tuple[Migration, ...]:
    """One migration per version, in order: version 1 gathers every module's part; a later version must be
    declared once, and none may be skipped (a gap is a migration lost in a merge)."""
    by_version: dict[int, list[str]] = {}
    later: set[int] = set()
    for migration in declared:
        if migration.version > 1:
            if migration.version in later:
                raise ValueError(f"migration {migration.version} is declared twice: number the newer one next")
            later.add(migration.version)
        by_version.setdefault(migration.version, []).extend(migration.statements)
    versions = sorted(by_version)
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must run 1, 2, 3 ... without a gap; declared: {versions}")
    return tuple(Migration(v, tuple(by_version[v])) for v in versions)


MIGRATIONS = collect(m for module in MODULES for m in module.MIGRATIONS)


def migrate(engine: Engine, *, embedded: bool, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the versions of ``migrations`` the database lacks, in one transaction; returns them (empty: the
    schema was current). Embedded, the demo tables are created too."""
    with engine.begin() as conn:
        conn.execute(sa.text(_LOCK), {"key": LOCK_KEY})
        for statement in _PREPARE:
            conn.execute(sa.text(statement))
        applied = set(conn.execute(sa.text(_APPLIED)).scalars())
        now = []
        for migration in migrations:
            if migration.version in applied:
                continue
            for statement in migration.statements:
                conn.execute(sa.text(statement))
            conn.execute(sa.text(_RECORD), {"version": migration.version})
            now.append(migration.version)
        for statement in EMBEDDED_DDL if embedded else ():
            conn.execute(sa.text(statement))
    return now
