"""The analytics database: TimescaleDB in production, the embedded demo PostgreSQL by default."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import URL, Connection, Engine, make_url

from vast_pipelines import sql
from vast_pipelines.policy.outbox import DIGEST_KIND, Expired, ExpiredDigest, MaxAges, digest
from vast_pipelines.policy.periods import Periods
from vast_pipelines.policy.spend import SpendSummary
from vast_pipelines.resources.embedded import embedded_server_url
from vast_pipelines.resources.errors import OperatorError, redact

EMBEDDED_LABEL = "embedded demo database"

# A message is leased to whoever writes it (or claims it for a retry) this long: no other sender (the outbox
# sensor in the daemon, a second code server) may touch it meanwhile. Longer than any one delivery attempt.
OUTBOX_LEASE_SECONDS = 300.0


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


@dataclass(frozen=True)
class OutboxMessage:
    """A notification to store in the outbox before its first delivery attempt."""

    transport: str
    destination: str
    kind: str
    body: str
    subject: str | None = None
    dedupe_key: str | None = None
    attachment_name: str | None = None
    attachment: bytes | None = None


@dataclass(frozen=True)
class OutboxBacklog:
    """Undelivered notifications by status, and how old the oldest is."""

    undelivered: int
    pending: int
    failed: int
    not_configured: int
    oldest: datetime | None


# Engines (and their pools) live as long as the process: sensors tick every minute in the same
# code server, and a new pool per tick would be a new connection per tick.
# Keyed by URL and connection options: two resources on one database with different timeouts get two pools.
_ENGINES: dict[tuple[str, int, int], Engine] = {}
_MIGRATED: set[str] = set()
_COST_TABLE_CHECKED: set[str] = set()
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

    def spend_summary(self, periods: Periods, *, rolling_24h: bool = True) -> SpendSummary:
        """Rolling 24 h, previous day, today, month-to-date and last-7-days spend in one statement.

        ``rolling_24h=False`` (the per-minute sensors) skips the rolling 24 h window, which is the part that
        reaches back into yesterday's raw rows; its figures are then 0.

        The table's columns are checked once per process (sensors call this every minute); a query that
        fails on a missing table or column is explained by checking again.
        """
        key = self.url or f"embedded:{Path(self.home).expanduser().resolve()}"
        if key not in _COST_TABLE_CHECKED:
            self.check_cost_table()
            _COST_TABLE_CHECKED.add(key)
        try:
            with self.begin() as conn:
                params = {**spend_parameters(periods), "with_rolling": rolling_24h}
                row = conn.execute(sa.text(sql.SPEND_SUMMARY), params).mappings().one()
        except sa.exc.ProgrammingError:
            _COST_TABLE_CHECKED.discard(key)
            self.check_cost_table()
            raise
        return SpendSummary(
            rolling_24h_cost=_money(row["rolling_24h_cost"]),
            rolling_24h_requests=int(row["rolling_24h_requests"]),
            previous_day_cost=_money(row["previous_day_cost"]),
            previous_day_requests=int(row["previous_day_requests"]),
            today_cost=_money(row["today_cost"]),
            today_requests=int(row["today_requests"]),
            month_to_date=_money(row["month_to_date"]),
            month_requests=int(row["month_requests"]),
            last_7_days_cost=_money(row["last_7_days_cost"]),
            month_null_cost_rows=int(row["month_null_cost_rows"]),
            month_negative_cost_rows=int(row["month_negative_cost_rows"]),
            future_rows=int(row["future_rows"]),
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
            return _enqueue(
                conn,
                transport=transport,
                destination=destination,
                kind=kind,
                subject=subject,
                body=body,
                attachment_name=attachment_name,
                attachment=attachment,
                dedupe_key=dedupe_key,
            )

    def queue_notifications(self, messages: Sequence[OutboxMessage]) -> list[OutboxRow]:
        """Store ``messages`` (leased to the caller, for a delivery run); a ``dedupe_key`` already queued is
        skipped."""
        with self.begin() as conn:
            return queue_messages(conn, messages)

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

    def record_attempted(
        self, message: OutboxMessage, *, status: str, error: str | None, ref: str | None, retry_in_seconds: float
    ) -> int | None:
        """Store a message that was already tried (sent directly while the outbox could not be written)."""
        with self.begin() as conn:
            return conn.execute(
                sa.text(sql.OUTBOX_INSERT_ATTEMPTED),
                {
                    **dataclasses.asdict(message),
                    "status": status,
                    "error": error,
                    "ref": ref,
                    "retry_in_seconds": retry_in_seconds,
                },
            ).scalar_one_or_none()

    def notification(self, notification_id: int) -> dict[str, Any]:
        """One outbox row as a dict (status, attempts, last_error, ...)."""
        with self.begin() as conn:
            return dict(conn.execute(sa.text(sql.OUTBOX_BY_ID), {"id": notification_id}).mappings().one())

    def claim_due_notifications(self, *, limit: int, lease_seconds: float) -> list[OutboxRow]:
        """Undelivered messages whose retry time has come, leased so no other caller sends them meanwhile."""
        with self.begin() as conn:
            rows = conn.execute(sa.text(sql.OUTBOX_DUE), {"limit": limit}).mappings().all()
            if rows:
                conn.execute(
                    sa.text(sql.OUTBOX_LEASE), {"ids": [r["id"] for r in rows], "lease_seconds": lease_seconds}
                )
        return [_outbox_row(row) for row in rows]

    def expire_notifications(
        self, ages: MaxAges, compose: Callable[[ExpiredDigest], OutboxMessage]
    ) -> tuple[int, OutboxRow | None]:
        """Mark due, undelivered messages older than their kind's maximum age ``expired``, and queue one digest
        (``compose``) of every expired message not reported yet; how many expired now, and the digest queued.

        One transaction: an older digest still waiting is superseded, so at most one digest waits at a time.
        """
        with self.begin() as conn:
            params = {
                "report_kinds": list(ages.report_kinds),
                "report_seconds": ages.report_seconds,
                "alert_seconds": ages.alert_seconds,
                "digest_kind": DIGEST_KIND,
            }
            expired_now = len(conn.execute(sa.text(sql.OUTBOX_EXPIRE), params).all())
            conn.execute(sa.text(sql.OUTBOX_SUPERSEDE_DIGESTS), {"digest_kind": DIGEST_KIND})
            rows = conn.execute(sa.text(sql.OUTBOX_UNREPORTED_EXPIRED), {"digest_kind": DIGEST_KIND}).all()
            found = digest(Expired(row.id, row.kind, row.transport, float(row.age_seconds)) for row in rows)
            if found is None:
                return expired_now, None
            [queued] = queue_messages(conn, [compose(found)])
            conn.execute(sa.text(sql.OUTBOX_MARK_DIGESTED), {"digest_id": queued.id, "ids": [row.id for row in rows]})
        return expired_now, queued

    def claim_queued_notifications(self, ids: Sequence[int]) -> list[OutboxRow]:
        """Messages ``ids`` not tried yet (queued by a sensor tick for a delivery run), leased to the caller."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.text(sql.OUTBOX_CLAIM_QUEUED), {"ids": list(ids), "lease_seconds": OUTBOX_LEASE_SECONDS}
            ).mappings()
            return sorted((_outbox_row(row) for row in rows), key=lambda row: row.id)

    def due_notifications(self) -> int:
        """How many undelivered messages may be tried now (their back-off and lease have passed)."""
        with self.begin() as conn:
            return int(conn.execute(sa.text(sql.OUTBOX_DUE_COUNT)).scalar_one())

    def outbox_backlog(self) -> OutboxBacklog:
        """Undelivered notifications by status."""
        with self.begin() as conn:
            row = conn.execute(sa.text(sql.OUTBOX_BACKLOG)).mappings().one()
        return OutboxBacklog(**row)

    # --- budget alerts --------------------------------------------------------------------------

    def claim_alerts(
        self,
        *,
        month: date,
        month_to_date: float,
        keys: Sequence[str],
        notify: Sequence[str],
        compose: Callable[[set[str]], list[OutboxMessage]],
    ) -> tuple[set[str], list[OutboxRow]]:
        """Claim alert ``keys`` for ``month``; the messages for what this caller won are queued in the same
        transaction, so a claimed alert is never lost and a lost race never sends."""
        with self.begin() as conn:
            claimed = set(
                conn.execute(
                    sa.text(sql.CLAIM_ALERT_LEVELS),
                    {"month": month, "month_to_date": month_to_date, "levels": list(keys), "notify": list(notify)},
                ).scalars()
            )
            rows = queue_messages(conn, compose(claimed) if claimed else [])
        return claimed, rows

    # --- incidents ------------------------------------------------------------------------------

    def record_incident(
        self,
        *,
        kind: str,
        subject: str,
        mode: str,
        run_id: str,
        summary: str,
        figures: dict[str, Any],
        before: Any,
        after: Any,
        failures: list[Any],
    ) -> int:
        """Open (or, re-executing the same run, update) the incident of an emergency run."""
        with self.begin() as conn:
            return conn.execute(
                sa.text(sql.INSERT_INCIDENT),
                {
                    "kind": kind,
                    "subject": subject,
                    "mode": mode,
                    "run_id": run_id,
                    "summary": summary,
                    "figures": _json(figures),
                    "before": _json(before),
                    "after": _json(after),
                    "failures": _json(failures),
                },
            ).scalar_one()

    def open_emergency_incidents(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        """Open runaway/hard-cap/manual incidents (or just ``incident_id`` if it is open), oldest first."""
        with self.begin() as conn:
            rows = conn.execute(sa.text(sql.OPEN_EMERGENCY_INCIDENTS), {"id": incident_id}).mappings().all()
        return [dict(row) for row in rows]

    def close_incidents(self, ids: Sequence[int], *, run_id: str, restored: Any) -> list[int]:
        """Resolve the open incidents among ``ids``, recording the restore run and the state it left."""
        with self.begin() as conn:
            return list(
                conn.execute(
                    sa.text(sql.CLOSE_INCIDENTS), {"ids": list(ids), "run_id": run_id, "restored": _json(restored)}
                ).scalars()
            )

    def confirm_router(self, *, run_id: str, use_vastai: str) -> None:
        """Record that ``run_id`` restarted agent-router with ``USE_VASTAI=use_vastai``."""
        self._execute(sql.ROUTER_CONFIRM, run_id=run_id, use_vastai=use_vastai)

    def router_confirmation(self) -> dict[str, Any] | None:
        """The last confirmed restart of agent-router (run_id, use_vastai, at), if any."""
        with self.begin() as conn:
            row = conn.execute(sa.text(sql.ROUTER_LAST_CONFIRMED)).mappings().first()
        return dict(row) if row else None

    # --- outages --------------------------------------------------------------------------------

    def record_probe(
        self,
        *,
        endpoint: str,
        checked_at: datetime,
        online: bool,
        attempts: int,
        failure: str | None,
        detail: str,
        keep: int,
    ) -> tuple[list[tuple[bool, datetime]], int | None]:
        """Keep one check of ``endpoint``; its latest ``keep`` (online, checked_at), newest first, and its open
        outage."""
        with self.begin() as conn:
            conn.execute(
                sa.text(sql.INSERT_PROBE),
                {
                    "checked_at": checked_at,
                    "endpoint": endpoint,
                    "online": online,
                    "attempts": attempts,
                    "failure": failure,
                    "detail": detail,
                },
            )
            recent = [
                (row.online, row.checked_at)
                for row in conn.execute(sa.text(sql.RECENT_PROBES), {"endpoint": endpoint, "limit": keep})
            ]
            outage = conn.execute(sa.text(sql.OPEN_OUTAGE), {"endpoint": endpoint}).first()
        return recent, outage.id if outage else None

    def open_outage(self, *, endpoint: str, summary: str, figures: dict[str, Any], context: Any) -> int | None:
        """Open the outage of ``endpoint``; None if one is already open (someone else announced it)."""
        with self.begin() as conn:
            return conn.execute(
                sa.text(sql.OPEN_OUTAGE_INSERT),
                {"endpoint": endpoint, "summary": summary, "figures": _json(figures), "context": _json(context)},
            ).scalar_one_or_none()

    def close_outage(self, *, endpoint: str, state: Any) -> dict[str, Any] | None:
        """Resolve the open outage of ``endpoint``: its id, opened_at and figures, or None if none was open."""
        with self.begin() as conn:
            row = conn.execute(sa.text(sql.CLOSE_OUTAGE), {"endpoint": endpoint, "state": _json(state)}).mappings()
            found = row.first()
        return dict(found) if found else None


def spend_parameters(periods: Periods) -> dict[str, Any]:
    """The bound parameters of ``sql.SPEND_SUMMARY`` for ``periods``."""
    tz = periods.month_start.tzinfo
    today = periods.today_start.date()
    week_first = periods.last_7_days_start.date()
    month_first = periods.month_start.date()
    return {
        "now": periods.now,
        "rolling_start": periods.rolling_24h_start,
        "tz": getattr(tz, "key", "UTC"),
        "today": today,
        "previous_day": periods.previous_day_start.date(),
        "month_first": month_first,
        "week_first": week_first,
        "history_first": min(month_first, week_first),
        "with_rolling": True,
    }


def queue_messages(conn: Connection, messages: Sequence[OutboxMessage]) -> list[OutboxRow]:
    """Store ``messages`` in the outbox within the caller's transaction (the one that claims what they announce);
    a ``dedupe_key`` already queued is skipped."""
    rows = []
    for message in messages:
        outbox_id = _enqueue(conn, **dataclasses.asdict(message))
        if outbox_id is not None:
            rows.append(
                OutboxRow(
                    outbox_id, message.transport, message.destination, message.kind, message.subject, message.body
                )
            )
    return rows


def _enqueue(conn: Connection, **fields: Any) -> int | None:
    """Insert one message, leased to the caller (who delivers it next), so no other sender sends it meanwhile."""
    params = {**fields, "lease_seconds": OUTBOX_LEASE_SECONDS}
    return conn.execute(sa.text(sql.OUTBOX_INSERT), params).scalar_one_or_none()


def _outbox_row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        transport=row["transport"],
        destination=row["destination"],
        kind=row["kind"],
        subject=row["subject"],
        body=row["body"],
        attachment_name=row["attachment_name"],
        attachment=bytes(row["attachment"]) if row["attachment"] is not None else None,
        attempts=row["attempts"],
    )


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
        engines = [_ENGINES.pop(key) for key in list(_ENGINES) if key[0] == url]
        _MIGRATED.discard(url)
        _COST_TABLE_CHECKED.discard(url)
    for engine in engines:
        engine.dispose()
