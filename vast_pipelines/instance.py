"""The local Dagster instance: one persistent ``DAGSTER_HOME`` under ``VAST_PIPELINES_HOME``.

Its storage is dagster-postgres on the embedded PostgreSQL (database ``dagster``, beside the cost data in
``analytics``), so runs, ticks, materializations and partitions survive restarts, and ``scripts/demo`` and
``scripts/ui`` share them. Its settings (run queue limits, telemetry and the welcome dialog off) are the
repository's ``dagster.yaml``; only the storage is added. Production keeps ``deploy/dagster.postgres.yaml``.

``python -m vast_pipelines.instance`` starts (or joins) the embedded server, writes the instance's
``dagster.yaml`` and prints its ``DAGSTER_HOME``: what ``scripts/ui`` runs before ``dagster dev``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml
from dotenv import dotenv_values
from sqlalchemy.engine import make_url

from vast_pipelines.connect.embedded import embedded_server_url
from vast_pipelines.errors import OperatorError

DAGSTER_DATABASE = "dagster"
# The repository's instance settings (also what a bare `dagster dev` reads from the working directory).
SETTINGS = Path(__file__).resolve().parents[1] / "dagster.yaml"


def pipelines_home(env_file: Path = Path(".env")) -> Path:
    """``VAST_PIPELINES_HOME`` from the environment, else from ``.env`` (as `dagster dev` reads it), else
    ``.vast_pipelines``: the code location and the instance must agree on it."""
    value = os.environ.get("VAST_PIPELINES_HOME") or (
        dotenv_values(env_file).get("VAST_PIPELINES_HOME") if env_file.is_file() else None
    )
    return Path(value or ".vast_pipelines").expanduser().resolve()


def dagster_home(home: Path) -> Path:
    """The instance's ``DAGSTER_HOME`` under ``VAST_PIPELINES_HOME``."""
    return home / "dagster_home"


def storage_url(home: Path) -> str:
    """A dagster-postgres URL to the ``dagster`` database on the embedded server (started if needed).

    The psycopg2 driver is named: SQLAlchemy 2.1 maps plain ``postgresql://`` to psycopg 3, on which
    dagster-postgres's event-log ``NOTIFY`` fails. The server listens on a Unix socket in its data folder,
    so the URL stays the same across restarts.
    """
    url = make_url(embedded_server_url(home, database=DAGSTER_DATABASE))
    return url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def instance_config(url: str, settings: Path = SETTINGS) -> dict:
    """The repository's instance settings with dagster-postgres storage at ``url``."""
    if not settings.is_file():
        raise OperatorError(f"{settings} is missing: the local instance takes its settings from it")
    config = yaml.safe_load(settings.read_text()) or {}
    config["storage"] = {"postgres": {"postgres_url": url}}
    return config


def prepare_instance(home: Path) -> Path:
    """Start (or join) the embedded server, write ``DAGSTER_HOME/dagster.yaml`` and return ``DAGSTER_HOME``."""
    target = dagster_home(home)
    target.mkdir(parents=True, exist_ok=True)
    text = (
        "# Written by vast_pipelines.instance from the repository's dagster.yaml (edit that one): the local\n"
        "# instance shared by scripts/demo and scripts/ui, stored in the embedded PostgreSQL.\n"
        + yaml.safe_dump(instance_config(storage_url(home)), sort_keys=False)
    )
    config_file = target / "dagster.yaml"
    if not config_file.is_file() or config_file.read_text() != text:
        config_file.write_text(text)
    return target


def main() -> None:
    """Print the local instance's ``DAGSTER_HOME`` after preparing it."""
    try:
        print(prepare_instance(pipelines_home()))
    except OperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
