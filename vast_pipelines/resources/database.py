"""The analytics database: TimescaleDB in production, the embedded demo PostgreSQL by default."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import URL, Connection, Engine, make_url

from vast_pipelines import sql
from vast_pipelines.domain.outbox import DIGEST_KIND, Expired, ExpiredDigest, MaxAges, digest
from vast_pipelines.domain.periods import Periods
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.policy.spend_minutes import read_bounds
from vast_pipelines.resources import spend_minutes
from vast_pipelines.resources.embedded import embedded_server_url
from vast_pipelines.resources.errors import OperatorError, redact

EMBEDDED_LABEL = "embedded demo database"

# A message is leased to whoever writes it (or claims it for a retry) this long: no other sender (the outbox
# sensor in the daemon, a second code server) may touch it meanwhile. Longer than any one delivery attempt.
OUTBOX_LEASE_SECONDS = 300.0


# How each column's expected type is named in messages.
EXPECTED_TYPE = {
    "timestamp": "timestamptz",
    "model": "text",
    "cost": "numeric",
    "duration": "double precision",
    "cold_start": "boolean",
}


class DatabaseUnavailable(OperatorError):
    """The analytics database cannot be reached or refused the connection."""


class DatabaseLoginFailed(DatabaseUnavailable):
    """The server answered and refused the user, password or database name of the URL."""


class DatabaseBusy(OperatorError):
    """A statement ran past its timeout or waited too long for a lock."""


class DatabasePermissionDenied(OperatorError):
    """The database user may not read or write what the pipelines need."""


class DatabaseBadData(OperatorError):
    """The server refused a value: out of range, malformed, or too large to index."""


# The longest database message quoted to an operator.
REASON_CHARS = 300

# Limits on every statement of a sensor tick, well inside Dagster's 60 s sensor timeout: a tick that waits on a
# lock held elsewhere fails in seconds with the reason instead of being killed at 60 s without one.
TICK_STATEMENT_TIMEOUT_SECONDS = 10
TICK_LOCK_TIMEOUT_SECONDS = 5
_TICK_LIMITS: ContextVar[tuple[int, int] | None] = ContextVar("vast_pipelines_tick_limits", default=None)


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


POSTGRES_SCHEMES = ("postgresql", "postgres", "timescaledb", "postgresql+psycopg")
URL_EXAMPLE = "TIMESCALE_URL=postgresql://bluefly:password@timescaledb:5433/analytics"
QUOTE_ADVICE = (
    "URL-quote special characters in the user and password (@ as %40, : as %3A, / as %2F; "
    "python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=\"\"))' PASSWORD)"
)


def to_sqlalchemy_url(url: str) -> URL:
    """A ``postgresql://`` URL (as the guide and psql write it) for SQLAlchemy with psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "timescaledb"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _split_userinfo(raw: str) -> tuple[str, str, str]:
    """(scheme, user info, the rest) of ``scheme://userinfo@rest``: the user info ends at the LAST ``@`` before
    any query string, which is where a password holding an unquoted ``@`` ends too."""
    scheme, _, rest = raw.partition("://")
    head, question, query = rest.partition("?")
    userinfo, at, after = head.rpartition("@")
    if not at:
        return scheme, "", rest
    return scheme, userinfo, after + question + query


def url_secrets(raw: str | None) -> tuple[str, ...]:
    """Every string of ``raw`` that may be (part of) its password, however the URL was mistyped."""
    if not raw or "://" not in raw:
        return ()
    _, userinfo, _ = _split_userinfo(raw)
    found = {userinfo.partition(":")[2]} | {piece for piece in userinfo.replace(":", "@").split("@")[1:]}
    with contextlib.suppress(Exception):  # an unparseable URL has no parsed password to add
        found.add(make_url(raw).password or "")
    # Longest first, so a password is replaced whole before any of its pieces.
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def mask_url(raw: str) -> str:
    """The URL as it may be shown: scheme, user and everything after the user info; never any password."""
    if "://" not in raw:
        return "<not a URL>"
    scheme, userinfo, rest = _split_userinfo(raw)
    user = userinfo.partition(":")[0] if userinfo else ""
    shown = f"{user}:***@" if ":" in userinfo else (f"{user}@" if userinfo else "")
    # The user info ends at the last @, so the rest holds no part of it; a password given as a parameter is hidden.
    rest = re.sub(r"(?i)(password=)[^&]*", r"\1***", rest)
    return f"{scheme}://{shown}{rest}"


def check_database_url(raw: str) -> None:
    """Raise ``OperatorError`` naming TIMESCALE_URL (never its password) unless it is a PostgreSQL URL."""
    shown = mask_url(raw)
    if "://" not in raw:
        if "=" in raw:
            hint = ""
            try:
                from psycopg.conninfo import conninfo_to_dict

                parts = conninfo_to_dict(raw)
                user = f"{parts['user']}:PASSWORD@" if parts.get("user") else ""
                port = f":{parts['port']}" if parts.get("port") else ""
                hint = f" Here: postgresql://{user}{parts.get('host', 'localhost')}{port}/{parts.get('dbname', '')}."
            except Exception:  # noqa: BLE001 - the hint is a courtesy; the message stands without it
                pass
            raise OperatorError(
                "TIMESCALE_URL is a libpq key=value string (host=... dbname=...); write it as a URL instead, e.g. "
                f"{URL_EXAMPLE}.{hint}"
            )
        raise OperatorError(f"TIMESCALE_URL={shown} is not a URL. Example: {URL_EXAMPLE}")
    scheme, userinfo, _ = _split_userinfo(raw)
    if scheme.lower() not in POSTGRES_SCHEMES:
        raise OperatorError(
            f"TIMESCALE_URL={shown} is not a PostgreSQL/TimescaleDB URL (scheme {scheme!r}; use postgresql://). "
            f"Example: {URL_EXAMPLE}"
        )
    if "@" in userinfo or "/" in userinfo or userinfo.count(":") > 1:
        raise OperatorError(f"TIMESCALE_URL={shown}: the user or password holds an unquoted @, : or /. {QUOTE_ADVICE}")
    try:
        port = make_url(raw).port
    except Exception:  # noqa: BLE001 - SQLAlchemy raises ValueError or ArgumentError here
        raise OperatorError(
            f"TIMESCALE_URL={shown} cannot be parsed (is the port a number?). Example: {URL_EXAMPLE}. {QUOTE_ADVICE}"
        ) from None
    if port is not None and not 0 < port < 65536:
        raise OperatorError(f"TIMESCALE_URL={shown}: port {port} is not between 1 and 65535. Example: {URL_EXAMPLE}")


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages and reports."""
    try:
        check_database_url(url)
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - shown masked whatever is wrong with it
        return mask_url(url)


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
                        sa.text(sql.SET_TICK_TIMEOUTS), {"statement": f"{statement_ms}", "lock": f"{limits[1] * 1000}"}
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
        self._wait_until_reachable(engine)
        if raw_url not in _MIGRATED:
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
                f"{sql.COST_TABLE} and USAGE, CREATE on schema {sql.SCHEMA} (and its tables)."
            )
        if state.startswith(("22", "54")):
            return DatabaseBadData(
                f"The analytics database {self._where} refused a value: {reason}. A row of {sql.COST_TABLE} "
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

    # --- vast_ai_costs -------------------------------------------------------------------------

    def check_cost_table(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``CostTableMissing`` naming, in one message, every column of ``columns`` (default: all of the
        guide's) that ``vast_ai_costs`` lacks or holds with the wrong type, with the type expected."""
        needed = tuple(columns or sql.COST_COLUMNS)
        with self.begin() as conn:
            rows = conn.execute(sa.text(sql.COST_TABLE_COLUMNS), {"table": sql.COST_TABLE}).all()
        found = {name: dtype for name, dtype in rows}
        if not found:
            raise CostTableMissing(
                f"Table {sql.COST_TABLE} does not exist in {self.label}. agent-router writes it; "
                f"expected columns: {', '.join(f'{c} {t}' for c, t in sql.COST_COLUMNS.items())}. "
                "Point TIMESCALE_URL at the analytics database, or unset it for the embedded demo."
            )
        missing = [f"{c} ({sql.COST_COLUMNS[c]})" for c in needed if c not in found]
        wrong = [
            f"{c} is {found[c]} (expected {c} {EXPECTED_TYPE[c]})"
            for c in needed
            if c in found and found[c] not in sql.COST_COLUMN_TYPES[c]
        ]
        if missing or wrong:
            said = []
            if missing:
                said.append(f"lacks column(s) {', '.join(missing)}")
            if wrong:
                said.append(f"has the wrong type: {'; '.join(wrong)}")
            raise CostTableMissing(
                f"Table {sql.COST_TABLE} in {self.label} {' and '.join(said)}. This check needs "
                f"{', '.join(needed)}. Fix the table agent-router writes (e.g. ALTER TABLE {sql.COST_TABLE} ALTER "
                "COLUMN cost TYPE numeric USING cost::numeric); nothing was read or changed."
            )

    def spend_summary(self, periods: Periods, *, rolling_24h: bool = True) -> SpendSummary:
        """Rolling 24 h, previous day, today, month-to-date and last-7-days spend in one statement.

        Today's spend (and yesterday's) is read pre-summed per minute from ``spend_minutes``, brought up to date
        first (in a short transaction of its own), plus the raw rows of the last minute or so: a tick reads about
        the same whatever the traffic and the hour.

        ``rolling_24h=False`` (the per-minute sensors) skips the rolling 24 h window, which is the part that
        reaches back into yesterday's raw rows; its figures are then 0.

        The table's columns are checked once per process (sensors call this every minute); a query that
        fails on a missing table or column is explained by checking again.
        """
        key = (self.url or f"embedded:{Path(self.home).expanduser().resolve()}") + ":spend"
        if key not in _COST_TABLE_CHECKED:
            self.check_cost_table(sql.SPEND_COLUMNS)
            _COST_TABLE_CHECKED.add(key)
        try:
            # The minutes are committed before the figures are read: a tick that fails reading (a statement timeout
            # on a first, busy day) still leaves the next one less to sum.
            with self.begin() as conn:
                covered = spend_minutes.refresh(conn, periods, rolling_24h=rolling_24h)
            with self.begin() as conn:
                params = {
                    **spend_parameters(periods),
                    **read_bounds(covered, periods, rolling_24h=rolling_24h),
                    "with_rolling": rolling_24h,
                }
                row = conn.execute(sa.text(sql.SPEND_SUMMARY), params).mappings().one()
        except sa.exc.ProgrammingError:
            _COST_TABLE_CHECKED.discard(key)
            self.check_cost_table(sql.SPEND_COLUMNS)
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
            rolling_24h_costed_requests=int(row["rolling_24h_costed_requests"]),
            previous_day_costed_requests=int(row["previous_day_costed_requests"]),
            today_costed_requests=int(row["today_costed_requests"]),
            month_costed_requests=int(row["month_costed_requests"]),
            month_invalid_cost_rows=int(row["month_invalid_cost_rows"]),
            today_null_cost_rows=int(row["today_null_cost_rows"]),
            today_invalid_cost_rows=int(row["today_invalid_cost_rows"]),
            today_negative_cost_rows=int(row["today_negative_cost_rows"]),
            month_credit=_money(row["month_credit"]),
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
    """The bound parameters of ``sql.SPEND_SUMMARY`` for ``periods``, reading every row raw."""
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
        # Nothing pre-summed: every row raw (``read_bounds`` of the coverage replaces these).
        **read_bounds(None, periods, rolling_24h=True),
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
    return json_document(value)


def json_document(value: Any) -> str:
    """``value`` as JSON that PostgreSQL accepts: NaN and Infinity (never figures) become null."""
    return json.dumps(_finite(value), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _money(value: Any) -> float:
    """SUM over no rows is NULL: the sum of no logged cost is 0 (whether that is "no data" is decided apart).

    The statements sum finite costs only; a sum that is still not finite fails loud rather than reach a verdict
    (NaN compares false with every limit, which would switch the runaway check off).
    """
    money = float(value) if value is not None else 0.0
    if not math.isfinite(money):
        raise DatabaseBadData(f"A spend figure read from {sql.COST_TABLE} is {money}, not an amount of money.")
    return money


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
        _COST_TABLE_CHECKED.discard(url + ":spend")
    for engine in engines:
        engine.dispose()
