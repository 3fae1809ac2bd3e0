"""Versioned migrations: a fresh database reaches the newest version, a database created before versions were
kept is adopted with its data and figures intact, a later migration alters a table exactly once, and two
processes migrating at the same moment do not collide."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vast_pipelines.connect.database_url import to_sqlalchemy_url
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.store.base import Migration
from vast_pipelines.store.cost_history import CostHistoryStore
from vast_pipelines.store.cost_table import COST_TABLE_DDL
from vast_pipelines.store.schema import MIGRATIONS, collect, migrate
from vast_pipelines.store.spend import SpendStore
from vast_pipelines_tests.conftest import _libpq, insert_costs

NOW = datetime(2026, 6, 10, 15, 30, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
HEAD = MIGRATIONS[-1].version
# A later migration as one would be written: it alters a table that exists, so it must not run twice.
ADD_REVIEWER = Migration(HEAD + 1, ("ALTER TABLE vast_pipelines.worker_changes ADD COLUMN reviewer text",))


@pytest.fixture
def engine(fresh_database_url: str):
    """An engine on a new database holding agent-router's empty ``vast_ai_costs`` and nothing else."""
    with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as conn:
        for statement in COST_TABLE_DDL:
            conn.execute(statement)
    engine = sa.create_engine(to_sqlalchemy_url(fresh_database_url))
    yield engine
    engine.dispose()


def versions(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version FROM vast_pipelines.schema_version ORDER BY 1")).scalars())


def columns(engine: Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'vast_pipelines' AND table_name = :table"
                ),
                {"table": table},
            ).scalars()
        )


class Unversioned:
    """The stores' database as the code before versions used it: transactions on an engine, no migration."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def begin(self):
        with self.engine.begin() as conn:
            yield conn

    def check_cost_table(self, columns=None) -> None:
        return None


def test_a_fresh_database_migrates_to_the_newest_version(engine):
    assert migrate(engine, embedded=False) == list(range(1, HEAD + 1))
    assert versions(engine) == list(range(1, HEAD + 1))
    tables = set(sa.inspect(engine).get_table_names(schema="vast_pipelines"))
    assert {"schema_version", "notification_outbox", "daily_cost_history", "spend_minutes", "incidents"} <= tables
    assert migrate(engine, embedded=False) == []  # nothing left to do: a restart changes nothing


def test_a_database_created_before_versions_is_adopted_with_its_data_and_figures(engine, fresh_database_url):
    # What every start did before versions were kept: the repeatable statements, no schema_version. An older
    # release's outbox also lacked the digest column (it was added by a later start).
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA vast_pipelines"))
        for statement in MIGRATIONS[0].statements:
            conn.execute(sa.text(statement))
        conn.execute(sa.text("ALTER TABLE vast_pipelines.notification_outbox DROP COLUMN digested_in"))
        conn.execute(
            sa.text(
                "INSERT INTO vast_pipelines.notification_outbox (transport, destination, kind, body, status) "
                "VALUES ('slack', '#platform-alerts', 'budget_warning', 'kept', 'failed')"
            )
        )
    old = Unversioned(engine)
    database = AnalyticsDatabase(url=fresh_database_url, connect_attempts=1)
    hours = [(d, h) for d in range(9) for h in range(5)]
    insert_costs(old, [(NOW - timedelta(days=d, hours=h), "llama-3-70b", 0.25 + d / 100, 2.0, not h) for d, h in hours])
    yesterday = date(2026, 6, 9)
    window = datetime(2026, 6, 9, tzinfo=UTC), datetime(2026, 6, 10, tzinfo=UTC)
    CostHistoryStore(old).refresh_day(
        day=yesterday, window_start=window[0], window_end=window[1], timezone="UTC", run_id=None
    )
    periods = periods_at(NOW, UTC_ZONE)
    spend_before = SpendStore(old, "before").summary(periods)
    history_before = CostHistoryStore(old).read(yesterday, NOW.date())

    # The first connection of this code migrates: version 1 runs over what exists, and is recorded.
    assert database.spend.summary(periods) == spend_before
    assert versions(engine) == list(range(1, HEAD + 1))
    assert database.cost_history.read(yesterday, NOW.date()) == history_before
    assert history_before.rows and history_before.rows[0].totals.requests == 5
    assert "digested_in" in columns(engine, "notification_outbox")
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT kind, body, status FROM vast_pipelines.notification_outbox")).all()
    assert kept == [("budget_warning", "kept", "failed")]
    assert migrate(engine, embedded=False) == []


def test_a_later_migration_alters_a_table_once(engine):
    migrate(engine, embedded=False)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO vast_pipelines.worker_changes (run_id, job, step, target, outcome) "
                "VALUES ('r1', 'update_worker', 'update', 'endpoint 7', 'applied')"
            )
        )
    assert migrate(engine, embedded=False, migrations=MIGRATIONS + (ADD_REVIEWER,)) == [HEAD + 1]
    # Run again, it would fail (the column exists, and the statement says ADD COLUMN, not IF NOT EXISTS).
    assert migrate(engine, embedded=False, migrations=MIGRATIONS + (ADD_REVIEWER,)) == []
    assert versions(engine) == list(range(1, HEAD + 2))
    assert "reviewer" in columns(engine, "worker_changes")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT run_id, reviewer FROM vast_pipelines.worker_changes")).all() == [
            ("r1", None)
        ]
    # A process still running the previous release finds nothing to do and leaves the newer version alone.
    assert migrate(engine, embedded=False) == []
    assert versions(engine) == list(range(1, HEAD + 2))


@pytest.mark.faults
def test_two_processes_migrating_at_once_apply_each_version_once(engine):
    engines = [sa.create_engine(engine.url) for _ in range(2)]
    start = threading.Barrier(len(engines))
    applied: list[list[int]] = [[] for _ in engines]
    errors: list[BaseException] = []

    def set_up(index: int) -> None:
        try:
            start.wait(timeout=30)
            applied[index] = migrate(engines[index], embedded=False, migrations=MIGRATIONS + (ADD_REVIEWER,))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=set_up, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for other in engines:
        other.dispose()
    assert errors == []
    # One process applied every version, the other waited on the lock and found nothing left to do.
    assert sorted(applied, key=len) == [[], list(range(1, HEAD + 2))]
    assert versions(engine) == list(range(1, HEAD + 2))


def test_versions_run_one_after_another_each_declared_once():
    assert [m.version for m in MIGRATIONS] == list(range(1, HEAD + 1))
    first = collect([Migration(1, ("a",)), Migration(1, ("b",)), Migration(2, ("c",))])
    assert first == (Migration(1, ("a", "b")), Migration(2, ("c",)))
    with pytest.raises(ValueError, match="declared twice"):
        collect([Migration(1, ("a",)), Migration(2, ("b",)), Migration(2, ("c",))])
    with pytest.raises(ValueError, match="without a gap"):
        collect([Migration(1, ("a",)), Migration(3, ("b",))])
