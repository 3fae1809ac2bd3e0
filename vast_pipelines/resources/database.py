"""The analytics database: TimescaleDB in production, the embedded demo PostgreSQL by default.

``AnalyticsDatabase`` owns the connection (pooled engines, connection retries, the schema's migrations, a sensor
tick's timeouts, errors worded for operators) and hands out the stores of ``vast_pipelines.store``, through
which every table is read and written.

Over 300 lines: the resource is the one door to the database, and how it connects, words failures and hands out
the stores is read together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Connection, Engine

from vast_pipelines.connect.database_url import (
    QUOTE_ADVICE,
    check_database_url,
    display_url,
    to_sqlalchemy_url,
    url_secrets,
)
from vast_pipelines.connect.embedded import embedded_server_url
from vast_pipelines.errors import OperatorError, redact
from vast_pipelines.store import cost_table, spend
from vast_pipelines.store.alerts import AlertStore
from vast_pipelines.store.base import SCHEMA
from vast_pipelines.store.cost_history import CostHistoryStore
from vast_pipelines.store.cost_reports import CostReportStore
from vast_pipelines.store.cost_table import COST_TABLE
from vast_pipelines.store.costs import CostStore
from vast_pipelines.store.demo import DemoStore
from vast_pipelines.store.errors import (
    DatabaseBadData,
    DatabaseBusy,
    DatabaseLoginFailed,
    DatabasePermissionDenied,
    DatabaseUnavailable,
)
from vast_pipelines.store.health import HealthStore
from vast_pipelines.store.incidents import IncidentStore
from vast_pipelines.store.insights import InsightStore
from vast_pipelines.store.outbox import OutboxStore
from vast_pipelines.store.schema import migrate
from vast_pipelines.store.spend import SpendStore
from vast_pipelines.store.spool import Spool
from vast_pipelines.store.worker_changes import WorkerChangeStore

EMBEDDED_LABEL = "embedded demo database"

# The longest database message quoted to an operator.
REASON_CHARS = 300

# Limits on every statement of a sensor tick, well inside Dagster's 60 s sensor timeout: a tick that waits on a
# lock held elsewhere fails in seconds with the reason instead of being killed at 60 s without one.
TICK_STATEMENT_TIMEOUT_SECONDS = 10
TICK_LOCK_TIMEOUT_SECONDS = 5
_TICK_LIMITS: ContextVar[tuple[int, int] | None] = ContextVar("vast_pipelines_tick_limits", default=None)
# For the tick's transaction only (SET LOCAL takes no bound parameters; set_config does).
_SET_TICK_TIMEOUTS = """
SELECT set_config('statement_timeout', :statement, true), set_config('lock_timeout', :lock, true)
"""


@contextmanager
def tick_limits(
    statement_seconds: int = TICK_STATEMENT_TIMEOUT_SECONDS, lock_seconds: int = TICK_LOCK_TIMEOUT_SECONDS
) -> Iterator[None]:
    """Run the database statements made within (by any ``AnalyticsDatabase``) under these timeouts."""
    token = _TICK_LIMITS.set((statement_seconds, lock_seconds))
    try:
        yield
    finally:
        _TICK_LIMITS.reset(token)


# Engines (and their pools) live as long as the process: sensors tick every minute in the same
# code server, and a new pool per tick would be a new connection per tick.
# Keyed by URL and connection options: two resources on one database with different timeouts get two pools.
_ENGINES: dict[tuple[str, int, int], Engine] = {}
_MIGRATED: set[str] = set()
_LOCK = threading.Lock()


class AnalyticsDatabase(dg.ConfigurableResource):
    """The database holding ``vast_ai_costs`` and the pipelines' own schema ``vast_pipelines``."""

    url: str | None = Field(
        default=None,
        description="TIMESCALE_URL, e.g. postgresql://bluefly@timescaledb:5433/analytics. "
        "Unset: the embedded demo PostgreSQL under `home`.",
    )
    home: str = Field(default=".vast_pipelines", description="VAST_PIPELINES_HOME: embedded database and state.")
    connect_timeout_seconds: int = Field(default=10, description="Per connection attempt.")
    connect_attempts: int = Field(
        default=3,
        description="Connection attempts before giving up when a process first connects (later, a failed tick is "
        "retried by the next one).",
    )
    statement_timeout_seconds: int = Field(default=120, description="Server-side limit on any one query.")

    _engine: Engine | None = PrivateAttr(default=None)

    @property
    def is_embedded(self) -> bool:
        """Whether this is the embedded demo database (no ``TIMESCALE_URL``)."""
        return not self.url

    @property
    def label(self) -> str:
        """What every report says about where its numbers come from."""
        if self.is_embedded:
            return f"{EMBEDDED_LABEL} ({Path(self.home).expanduser().resolve() / 'pgdata'})"
        return display_url(self.url or "")

    @property
    def engine(self) -> Engine:
        """The migrated engine, connecting on first use."""
        if self._engine is None:
            self._engine = self._connect()
        return self._engine

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction on the analytics database (under the tick's timeouts within ``tick_limits``).

        A database error that an operator can act on (unreachable, login refused, timeout or lock, permission,
        bad data) becomes an ``OperatorError`` worded for itself; anything else (a bug) is raised as it is.
        """
        try:
            with self.engine.begin() as conn:
                limits = _TICK_LIMITS.get()
                if limits is not None:
                    statement_ms = min(limits[0], self.statement_timeout_seconds) * 1000
                    conn.execute(
                        sa.text(_SET_TICK_TIMEOUTS), {"statement": f"{statement_ms}", "lock": f"{limits[1] * 1000}"}
                    )
                yield conn
        except sa.exc.DBAPIError as exc:
            explained = self.explain(exc)
            if explained is None:
                raise
            raise explained from None

    def _resolved_url(self) -> str:
        if self.url:
            check_database_url(self.url)
            return self.url
        try:
            return embedded_server_url(Path(self.home))
        except Exception as exc:
            raise DatabaseUnavailable(
                f"Could not start the {EMBEDDED_LABEL} under {Path(self.home).resolve()}: {exc}. "
                "Check that the folder is writable (VAST_PIPELINES_HOME), or set TIMESCALE_URL."
            ) from None

    def _connect(self) -> Engine:
        raw_url = self._resolved_url()
        with _LOCK:
            key = (raw_url, self.connect_timeout_seconds, self.statement_timeout_seconds)
            engine = _ENGINES.get(key)
            if engine is None:
                engine = sa.create_engine(
                    to_sqlalchemy_url(raw_url),
                    pool_pre_ping=True,
                    pool_size=2,
                    max_overflow=3,
                    connect_args={
                        "connect_timeout": self.connect_timeout_seconds,
                        "application_name": "vast_pipelines",
                        "options": f"-c statement_timeout={self.statement_timeout_seconds * 1000}",
                    },
                )
                _ENGINES[key] = engine
        if raw_url not in _MIGRATED:
            # Waited for once per process: afterwards a tick's own first statement says whether the server is there
            # (pool_pre_ping), and a tick that fails is simply the next one's retry; asking first would cost every
            # tick another round trip.
            self._wait_until_reachable(engine)
            try:
                migrate(engine, embedded=self.is_embedded)
            except sa.exc.DBAPIError as exc:
                explained = self.explain(exc)
                if explained is None:
                    raise
                raise explained from None
            _MIGRATED.add(raw_url)
        return engine

    def _wait_until_reachable(self, engine: Engine) -> None:
        delay = 0.5
        for attempt in range(1, self.connect_attempts + 1):
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                return
            except sa.exc.OperationalError as exc:
                # A refused login does not get better by asking again.
                if attempt == self.connect_attempts or isinstance(self.explain(exc), DatabaseLoginFailed):
                    raise self._unavailable(exc) from None
                time.sleep(delay)
                delay *= 2

    def _reason(self, exc: Exception) -> str:
        """The server's or driver's first line, without the statement and without any part of a password."""
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["(no message)"]
        reason = redact(lines[0], *url_secrets(self.url))
        # A server message may quote the offending value (a 10 MB model name): a few hundred bytes tell enough.
        return reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS] + "…"

    @property
    def _where(self) -> str:
        return f"{self.label} (TIMESCALE_URL)" if self.url else self.label

    def _unavailable(self, exc: Exception) -> DatabaseUnavailable:
        explained = self.explain(exc)
        if isinstance(explained, DatabaseUnavailable):
            return explained
        return DatabaseUnavailable(
            f"Cannot reach the analytics database {self._where}: {self._reason(exc)}. "
            "Check that the server is up and TIMESCALE_URL (host, port, user, database) is right; "
            "unset TIMESCALE_URL to use the embedded demo database."
        )

    def explain(self, exc: Exception) -> OperatorError | None:
        """What an operator reads for a database error, or None when it is not theirs to fix (a bug)."""
        orig = getattr(exc, "orig", None) or exc
        state = getattr(orig, "sqlstate", None) or ""
        reason = self._reason(exc)
        lowered = reason.lower()
        refused = ("authentication failed", "no password supplied", "no pg_hba.conf entry")
        if (
            state in ("28P01", "28000")
            or any(r in lowered for r in refused)
            or ("role" in lowered and "does not exist" in lowered)
        ):
            return DatabaseLoginFailed(
                f"The analytics database {self._where} refused the login: {reason}. Check the user and password "
                f"in TIMESCALE_URL. {QUOTE_ADVICE}."
            )
        if state == "3D000" or ("database" in lowered and "does not exist" in lowered):
            return DatabaseLoginFailed(
                f"The analytics database {self._where} has no such database: {reason}. "
                "Check the database name at the end of TIMESCALE_URL."
            )
        if state in ("57014", "55P03", "40P01") or "lock timeout" in lowered:
            return DatabaseBusy(
                f"The analytics database {self._where} did not answer in time: {reason}. A long query or a lock "
                "held by another session (see pg_stat_activity and pg_locks) is in the way; nothing was changed."
            )
        if state == "42501":
            return DatabasePermissionDenied(
                f"The database user of {self._where} is not allowed to do this: {reason}. Grant it SELECT on "
                f"{COST_TABLE} and USAGE, CREATE on schema {SCHEMA} (and its tables)."
            )
        if state.startswith(("22", "54")):
            return DatabaseBadData(
                f"The analytics database {self._where} refused a value: {reason}. A row of {COST_TABLE} "
                "holds data the pipelines cannot store as it is (out of range, malformed or too large); "
                "nothing was changed."
            )
        if isinstance(exc, sa.exc.OperationalError) or state.startswith(("08", "53", "57P")):
            return DatabaseUnavailable(
                f"Cannot reach the analytics database {self._where}: {reason}. "
                "Check that the server is up and TIMESCALE_URL (host, port, user, database) is right; "
                "unset TIMESCALE_URL to use the embedded demo database."
            )
        return None

    def check_cost_table(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``CostTableMissing`` naming, in one message, every column of ``columns`` (default: all of the
        guide's) that ``vast_ai_costs`` lacks or holds with the wrong type, with the type expected."""
        with self.begin() as conn:
            found = cost_table.columns(conn)
        cost_table.check_columns(found, tuple(columns or cost_table.COST_COLUMNS), self.label)

    # --- the stores: every table is read and written through one of these -------------------------

    @property
    def spend(self) -> SpendStore:
        """Spend per window (health check, budget and runaway sensors)."""
        return SpendStore(self, self.url or f"embedded:{Path(self.home).expanduser().resolve()}")

    @property
    def costs(self) -> CostStore:
        """Other reads of ``vast_ai_costs`` (cost drivers, latency, activity, traces, per-day and per-minute)."""
        return CostStore(self)

    @property
    def cost_history(self) -> CostHistoryStore:
        """The daily rollup of ``vast_ai_costs``."""
        return CostHistoryStore(self)

    @property
    def cost_reports(self) -> CostReportStore:
        """The cost reports' figures and text."""
        return CostReportStore(self)

    @property
    def health(self) -> HealthStore:
        """The morning health check's parts and report."""
        return HealthStore(self, self.label)

    @property
    def outbox(self) -> OutboxStore:
        """Every notification, stored before it is sent."""
        return OutboxStore(self)

    @property
    def spool(self) -> Spool:
        """Messages waiting for the database (``VAST_PIPELINES_HOME/outbox-spool``)."""
        return Spool(Path(self.home).expanduser() / "outbox-spool")

    @property
    def alerts(self) -> AlertStore:
        """Budget-level claims and alert episodes."""
        return AlertStore(self)

    @property
    def incidents(self) -> IncidentStore:
        """Emergency incidents, outages, probes and agent-router confirmations."""
        return IncidentStore(self)

    @property
    def insights(self) -> InsightStore:
        """Billing reconciliation, the idle-timeout what-if and alert backtests."""
        return InsightStore(self)

    @property
    def worker_changes(self) -> WorkerChangeStore:
        """Every change the deployment jobs make."""
        return WorkerChangeStore(self)

    @property
    def demo(self) -> DemoStore:
        """The embedded demo database's synthetic traffic."""
        return DemoStore(self)


def dispose_engine(url: str) -> None:
    """Close the pooled connections to ``url`` (before dropping a database, or at shutdown)."""
    with _LOCK:
        engines = [_ENGINES.pop(key) for key in list(_ENGINES) if key[0] == url]
        _MIGRATED.discard(url)
        spend.forget_checked(url)
    for engine in engines:
        engine.dispose()
