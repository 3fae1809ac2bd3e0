"""The analytics database: TimescaleDB in production, the embedded demo PostgreSQL by default."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import URL, Connection, Engine, make_url

from vast_pipelines import sql
from vast_pipelines.policy.periods import Periods
from vast_pipelines.policy.spend import SpendSummary
from vast_pipelines.resources.embedded import embedded_server_url
from vast_pipelines.resources.errors import OperatorError, redact

EMBEDDED_LABEL = "embedded demo database"


class DatabaseUnavailable(OperatorError):
    """The analytics database cannot be reached or refused the connection."""


class CostTableMissing(OperatorError):
    """``vast_ai_costs`` is missing or lacks the guide's columns."""


@dataclass(frozen=True)
class OutboxRow:
    """A notification waiting in (or delivered from) the outbox."""

    id: int
    transport: str
    destination: str
    kind: str
    subject: str | None
    body: str
    attachment_name: str | None = None
    attachment: bytes | None = None
    attempts: int = 0


# Engines (and their pools) live as long as the process: sensors tick every minute in the same
# code server, and a new pool per tick would be a new connection per tick.
_ENGINES: dict[str, Engine] = {}
_MIGRATED: set[str] = set()
_LOCK = threading.Lock()


def to_sqlalchemy_url(url: str) -> URL:
    """A ``postgresql://`` URL (as the guide and psql write it) for SQLAlchemy with psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "timescaledb"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


class AnalyticsDatabase(dg.ConfigurableResource):
    """The database holding ``vast_ai_costs`` and the pipelines' own schema ``vast_pipelines``."""

    url: str | None = Field(
        default=None,
        description="TIMESCALE_URL, e.g. postgresql://bluefly@timescaledb:5433/analytics. "
        "Unset: the embedded demo PostgreSQL under `home`.",
    )
    home: str = Field(default=".vast_pipelines", description="VAST_PIPELINES_HOME: embedded database and state.")
    connect_timeout_seconds: int = Field(default=10, description="Per connection attempt.")
    connect_attempts: int = Field(default=3, description="Connection attempts before giving up.")
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

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = self._connect()

    @property
    def engine(self) -> Engine:
        """The migrated engine, connecting on first use."""
        if self._engine is None:
            self._engine = self._connect()
        return self._engine

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction on the analytics database."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise self._unavailable(exc) from None

    def _resolved_url(self) -> str:
        if self.url:
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
            engine = _ENGINES.get(raw_url)
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
                _ENGINES[raw_url] = engine
        self._wait_until_reachable(engine)
        if raw_url not in _MIGRATED:
            migrate(engine, embedded=self.is_embedded)
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
                if attempt == self.connect_attempts:
                    raise self._unavailable(exc) from None
                time.sleep(delay)
                delay *= 2

    def _unavailable(self, exc: Exception) -> DatabaseUnavailable:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        secret = make_url(self.url).password if self.url else None
        where = "TIMESCALE_URL" if self.url else "the embedded database"
        return DatabaseUnavailable(
            f"Cannot reach the analytics database {self.label} ({where}): {redact(reason, secret)}. "
            "Check that the server is up and TIMESCALE_URL (host, port, user, database) is right; "
            "unset TIMESCALE_URL to use the embedded demo database."
        )

    # --- vast_ai_costs -------------------------------------------------------------------------

    def check_cost_table(self) -> None:
        """Raise ``CostTableMissing`` naming what is missing from ``vast_ai_costs``."""
        with self.begin() as conn:
            rows = conn.execute(sa.text(sql.COST_TABLE_COLUMNS), {"table": sql.COST_TABLE}).all()
        found = {name: dtype for name, dtype in rows}
        if not found:
            raise CostTableMissing(
                f"Table {sql.COST_TABLE} does not exist in {self.label}. agent-router writes it; "
                f"expected columns: {', '.join(f'{c} {t}' for c, t in sql.COST_COLUMNS.items())}. "
                "Point TIMESCALE_URL at the analytics database, or unset it for the embedded demo."
            )
        missing = [f"{c} ({t})" for c, t in sql.COST_COLUMNS.items() if c not in found]
        if missing:
            raise CostTableMissing(
                f"Table {sql.COST_TABLE} in {self.label} lacks column(s) {', '.join(missing)}; "
                "the operations guide's queries need all of timestamp, model, cost, duration, cold_start."
            )

    def spend_summary(self, periods: Periods) -> SpendSummary:
        """Rolling 24 h, previous day, today, month-to-date and last-7-days spend in one scan."""
        self.check_cost_table()
        params = {
            "now": periods.now,
            "rolling_start": periods.rolling_24h_start,
            "previous_day_start": periods.previous_day_start,
            "today_start": periods.today_start,
            "month_start": periods.month_start,
            "last_7_start": periods.last_7_days_start,
            "earliest": periods.earliest,
        }
        with self.begin() as conn:
            row = conn.execute(sa.text(sql.SPEND_SUMMARY), params).mappings().one()
        return SpendSummary(
            rolling_24h_cost=_money(row["rolling_24h_cost"]),
            rolling_24h_requests=row["rolling_24h_requests"],
            previous_day_cost=_money(row["previous_day_cost"]),
            previous_day_requests=row["previous_day_requests"],
            today_cost=_money(row["today_cost"]),
            today_requests=row["today_requests"],
            month_to_date=_money(row["month_to_date"]),
            month_requests=row["month_requests"],
            last_7_days_cost=_money(row["last_7_days_cost"]),
            month_null_cost_rows=row["month_null_cost_rows"],
            month_negative_cost_rows=row["month_negative_cost_rows"],
            future_rows=row["future_rows"],
            latest_request=row["latest_request"],
        )

    # --- the pipelines' own tables --------------------------------------------------------------

    def save_health_endpoints(
        self, *, run_id: str, at: datetime, data: list[dict[str, Any]], text: str, all_online: bool
    ) -> None:
        """Keep this run's endpoint verdicts in ``vast_pipelines.health_checks``."""
        self._execute(
            sql.UPSERT_HEALTH_ENDPOINTS,
            run_id=run_id,
            at=at,
            database_label=self.label,
            data=_json(data),
            text=text,
            all_online=all_online,
        )

    def save_health_spend(self, *, run_id: str, at: datetime, data: dict[str, Any], text: str) -> None:
        """Keep this run's spend figures in ``vast_pipelines.health_checks``."""
        self._execute(
            sql.UPSERT_HEALTH_SPEND, run_id=run_id, at=at, database_label=self.label, data=_json(data), text=text
        )

    def health_check_parts(self, run_id: str) -> tuple[str | None, str | None]:
        """This run's (or the latest) endpoint and spend sections of the morning report."""
        with self.begin() as conn:
            row = conn.execute(sa.text(sql.HEALTH_CHECK_PARTS), {"run_id": run_id}).one()
        return row.endpoints_text, row.spend_text

    def save_health_report(self, *, run_id: str, report: str) -> None:
        """Keep the composed report beside its parts."""
        self._execute(sql.SET_HEALTH_REPORT, run_id=run_id, report=report)

    def record_worker_change(
        self,
        *,
        run_id: str,
        job: str,
        step: str,
        target: str,
        before: Any,
        after: Any,
        outcome: str = "applied",
        detail: str | None = None,
    ) -> None:
        """Keep one change to Vast.ai or the router (before/after state) in ``vast_pipelines.worker_changes``."""
        self._execute(
            sql.WORKER_CHANGE_INSERT,
            run_id=run_id,
            job=job,
            step=step,
            target=target,
            before=_json(before),
            after=_json(after),
            outcome=outcome,
            detail=detail,
        )

    def worker_changes(self, run_id: str) -> list[dict[str, Any]]:
        """The changes one run made, in order."""
        with self.begin() as conn:
            return [dict(r) for r in conn.execute(sa.text(sql.WORKER_CHANGES_OF_RUN), {"run_id": run_id}).mappings()]

    def _execute(self, statement: str, **params: Any) -> None:
        with self.begin() as conn:
            conn.execute(sa.text(statement), params)

    def enqueue_notification(
        self,
        *,
        transport: str,
        destination: str,
        kind: str,
        body: str,
        subject: str | None = None,
        attachment_name: str | None = None,
        attachment: bytes | None = None,
        dedupe_key: str | None = None,
    ) -> int | None:
        """Store a notification before any delivery attempt; None if ``dedupe_key`` was already queued."""
        with self.begin() as conn:
            return conn.execute(
                sa.text(sql.OUTBOX_INSERT),
                {
                    "transport": transport,
                    "destination": destination,
                    "kind": kind,
                    "subject": subject,
                    "body": body,
                    "attachment_name": attachment_name,
                    "attachment": attachment,
                    "dedupe_key": dedupe_key,
                },
            ).scalar_one_or_none()

    def mark_notification(
        self,
        notification_id: int,
        *,
        status: str,
        error: str | None = None,
        ref: str | None = None,
        retry_in_seconds: float = 0.0,
    ) -> None:
        """Record the outcome of one delivery attempt."""
        with self.begin() as conn:
            conn.execute(
                sa.text(sql.OUTBOX_MARK),
                {
                    "id": notification_id,
                    "status": status,
                    "error": error,
                    "ref": ref,
                    "retry_in_seconds": retry_in_seconds,
                },
            )

    def notification(self, notification_id: int) -> dict[str, Any]:
        """One outbox row as a dict (status, attempts, last_error, ...)."""
        with self.begin() as conn:
            return dict(conn.execute(sa.text(sql.OUTBOX_BY_ID), {"id": notification_id}).mappings().one())


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _money(value: Any) -> float:
    """SUM over no rows is NULL: the sum of no logged cost is 0 (whether that is "no data" is decided apart)."""
    return float(value) if value is not None else 0.0


def migrate(engine: Engine, *, embedded: bool) -> None:
    """Create the ``vast_pipelines`` schema (and, embedded only, ``vast_ai_costs``); safe to repeat."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": sql.MIGRATION_LOCK_KEY})
        for statement in sql.MIGRATIONS + (sql.EMBEDDED_MIGRATIONS if embedded else ()):
            conn.execute(sa.text(statement))


def dispose_engine(url: str) -> None:
    """Close the pooled connections to ``url`` (before dropping a database, or at shutdown)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
        _MIGRATED.discard(url)
    if engine is not None:
        engine.dispose()
