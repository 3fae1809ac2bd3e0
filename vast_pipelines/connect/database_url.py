"""``TIMESCALE_URL``: read as the guide and psql write it, checked before any connection, shown without its password."""

from __future__ import annotations

import contextlib
import re

from sqlalchemy.engine import URL, make_url

from vast_pipelines.errors import OperatorError

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
