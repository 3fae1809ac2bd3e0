"""Real parts for every test: a PostgreSQL server, loopback servers for the outside systems."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import make_url

from vast_pipelines import clock
from vast_pipelines.connect.embedded import embedded_server_url, stop_embedded_server
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.heartbeat import HeartbeatResource
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.tailscale import TailscaleResource
from vast_pipelines.resources.vast import VastAIResource
from vast_pipelines.store.cost_table import COST_TABLE_DDL
from vast_pipelines_tests.fakes import SlackServer, SmtpServer, VastServer, ollama_server, vllm_server

REPO = Path(__file__).parents[1]

# Recognisable fake secrets: tests assert they never show up anywhere.
VAST_KEY = "vast-key-SECRET-4f1c9e"
SLACK_TOKEN = "xoxb-SECRET-slack-7d2a"


@pytest.fixture(autouse=True)
def _no_outside_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit an operator's real endpoints, keys or database."""
    for var in (
        "TIMESCALE_URL",
        "VAST_API_URL",
        "VAST_AUTOSCALER_URL",
        "VAST_API_KEY",
        "VLLM_URL",
        "OLLAMA_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_API_URL",
        "SMTP_URL",
        "ALERT_EMAIL_TO",
        "ALERT_EMAIL_FROM",
        "VAST_EMERGENCY_SHUTDOWN",
        "AGENT_ROUTER_ENV_FILE",
        "AGENT_ROUTER_RESTART_COMMAND",
        "VAST_ENDPOINTS",
        "VAST_EMERGENCY_ACTIONS",
        "VAST_PIPELINES_THRESHOLDS",
        "VAST_PIPELINES_TIMEZONE",
        "VAST_PIPELINES_HISTORY_START",
        "HEARTBEAT_URL",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server: ``TEST_DATABASE_URL``, or the embedded one started for this session."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    # Not under pytest's basetemp: a concurrent pytest session prunes old basetemps, data dirs included.
    home = Path(tempfile.mkdtemp(prefix="vast-pipelines-test-pg-"))
    yield embedded_server_url(home, database="postgres")
    stop_embedded_server(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def _statement_timeouts_fire(pg_admin_url: str) -> bool:
    """Whether the test server cancels a statement at its ``statement_timeout`` (probed once)."""
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
        conn.execute("SET statement_timeout = 200")
        try:
            conn.execute("SELECT pg_sleep(2)")
        except psycopg.errors.QueryCanceled:
            return True
    return False


@pytest.fixture
def statement_timeouts(_statement_timeouts_fire: bool) -> None:
    """For a test that needs PostgreSQL to cancel a statement on time; skipped, saying why, where it cannot."""
    if not _statement_timeouts_fire:
        pytest.skip(
            "PostgreSQL's statement_timeout does not fire on this server (a pg_sleep(2) under a 200 ms timeout "
            "ran to its end). Seen when the server runs under libfaketime (LD_PRELOAD="
            f"{os.environ.get('LD_PRELOAD', '')!r}): a fault that needs the timeout cannot be produced here."
        )


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def fresh_database_url(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    name = f"vpt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    dispose_engine(url)
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


@pytest.fixture
def database(fresh_database_url: str) -> AnalyticsDatabase:
    """A production-like analytics database (``TIMESCALE_URL`` given) with an empty ``vast_ai_costs``."""
    with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as conn:
        for statement in COST_TABLE_DDL:
            conn.execute(statement)
    return AnalyticsDatabase(url=fresh_database_url, connect_attempts=1)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A real, temporary Dagster instance (run storage, event log) for sensor ticks and runs."""
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Pin the pipelines' clock (``vast_pipelines.clock.now``) to a moment: sensors and jobs then run as of it."""

    def pin(moment: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: moment)

    return pin


def insert_costs(database: AnalyticsDatabase, rows: list[tuple[datetime, str | None, object, object, object]]) -> None:
    """Write ``(timestamp, model, cost, duration, cold_start)`` rows as agent-router would."""
    with database.begin() as conn:
        conn.execute(
            sa.text(
                'INSERT INTO vast_ai_costs ("timestamp", model, cost, duration, cold_start) VALUES (:t, :m, :c, :d, :s)'
            ),
            [
                {"t": t, "m": m, "c": Decimal(str(c)) if isinstance(c, float) else c, "d": d, "s": s}
                for t, m, c, d, s in rows
            ],
        )


def notification(database: AnalyticsDatabase, outbox_id: int) -> dict[str, Any]:
    """One outbox row as a dict (status, attempts, last_error, ...)."""
    with database.begin() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT id, transport, destination, kind, subject, body, status, attempts, last_error, "
                    "delivery_ref FROM vast_pipelines.notification_outbox WHERE id = :id"
                ),
                {"id": outbox_id},
            )
            .mappings()
            .one()
        )


def worker_changes(database: AnalyticsDatabase, run_id: str) -> list[dict[str, Any]]:
    """The changes one run recorded in ``vast_pipelines.worker_changes``, in order."""
    with database.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT step, target, before, after, outcome, detail FROM vast_pipelines.worker_changes "
                "WHERE run_id = :run_id ORDER BY id"
            ),
            {"run_id": run_id},
        )
        return [dict(row) for row in rows.mappings()]


@functools.cache
def code_location() -> dg.Definitions:
    """The code location's definitions, loaded once per test session."""
    from vast_pipelines.definitions import defs

    return defs()


def evaluate_sensor(name: str, resources: dict, instance: dg.DagsterInstance, cursor: str | None = None) -> Any:
    """One tick of the code location's sensor ``name``, as the daemon evaluates it (run requests, skip
    message, cursor and asset events of the tick)."""
    sensor = code_location().resolve_sensor_def(name)
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor))


def launch(
    tick: Any, resources: dict, instance: dg.DagsterInstance, job_name: str | None = None
) -> list[dg.ExecuteInProcessResult]:
    """What the daemon does with a tick's run requests: each requested run (of ``job_name`` unless the request
    names its job), with its config and tags, in process."""
    results = []
    for request in tick.run_requests or []:
        job = code_location().resolve_job_def(request.job_name or job_name)
        results.append(
            job.execute_in_process(
                run_config=request.run_config,
                tags=request.tags,
                instance=instance,
                resources=resources,
                raise_on_error=False,
            )
        )
    return results


def tick_and_launch(name: str, resources: dict, instance: dg.DagsterInstance, cursor: str | None = None) -> Any:
    """One tick of sensor ``name``, then what the daemon does with it: the asset events it reported stored on the
    instance (outside any run), and the runs it requested launched (a sensor decides, a job acts)."""
    tick = evaluate_sensor(name, resources, instance, cursor)
    for event in tick.asset_events:
        instance.report_runless_asset_event(event)
    sensor = code_location().resolve_sensor_def(name)
    launch(tick, resources, instance, sensor.job_name if sensor.has_jobs else None)
    return tick


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A VAST_PIPELINES_HOME whose embedded server (if anything starts one) is stopped and removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="vast-pipelines-test-home-"))
    yield home
    stop_embedded_server(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def vllm() -> Iterator:
    with vllm_server() as server:
        yield server


@pytest.fixture
def ollama() -> Iterator:
    with ollama_server() as server:
        yield server


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    with SlackServer(token=SLACK_TOKEN) as server:
        yield server


@pytest.fixture
def vast_server() -> Iterator[VastServer]:
    with VastServer(api_key=VAST_KEY) as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def tailscale_cli(tmp_path: Path) -> Path:
    """A stand-in ``tailscale`` CLI printing a status where vastai-gpu is online and active."""
    script = tmp_path / "tailscale"
    script.write_text(
        "#!/bin/sh\ncat <<'EOF'\n"
        '{"BackendState": "Running", "Peer": {"nodekey:1": {"HostName": "vastai-gpu", '
        '"DNSName": "vastai-gpu.tailcf98b3.ts.net.", "Online": true, "Active": true}}}\nEOF\n'
    )
    script.chmod(0o755)
    return script


def make_resources(
    database: AnalyticsDatabase,
    *,
    vllm_url: str | None = None,
    ollama_url: str | None = None,
    vast: VastServer | None = None,
    vast_endpoints: str | None = None,
    slack: SlackServer | None = None,
    smtp: SmtpServer | None = None,
    tailscale: Path | None = None,
    timezone: str = "UTC",
    cold_start_wait_seconds: float = 0.0,
    router_env: Path | None = None,
    restart_command: str | None = None,
    actions: str = "dry-run",
    shutdown: str = "stop",
    thresholds: str | None = None,
    heartbeat_url: str | None = None,
) -> dict:
    """The resources of a run, every outside system on loopback (or a closed port when not given)."""
    dead = closed_port_url()
    return {
        "database": database,
        "endpoints": InferenceEndpoints(
            vllm_url=vllm_url or dead,
            ollama_url=ollama_url or dead,
            timeout_seconds=2.0,
            cold_start_wait_seconds=cold_start_wait_seconds,
        ),
        "vast": VastAIResource(
            api_url=vast.url if vast else dead,
            autoscaler_url=vast.url if vast else dead,
            api_key=VAST_KEY if vast else None,
            endpoint_names=vast_endpoints,
            first_backoff_seconds=0.01,
            max_attempts=2,
            emergency_wait_seconds=0.05,
        ),
        "slack": SlackResource(
            bot_token=SLACK_TOKEN if slack else None,
            api_url=slack.api_url if slack else None,
            rate_limit_retries=1,
            server_error_retries=0,
        ),
        "email": EmailResource(smtp_url=smtp.url if smtp else None),
        "tailscale": TailscaleResource(binary=str(tailscale) if tailscale else "tailscale-not-installed"),
        "heartbeat": HeartbeatResource(url=heartbeat_url),
        "router": AgentRouterResource(
            env_file=str(router_env) if router_env else None, restart_command=restart_command
        ),
        "settings": RunbookSettings(
            timezone=timezone, emergency_actions=actions, emergency_shutdown=shutdown, thresholds=thresholds
        ),
    }


def loopback_environment(
    *, vllm=None, ollama=None, vast: VastServer | None = None, slack: SlackServer | None = None
) -> dict[str, str]:
    """The environment variables that point the code location at loopback servers (a closed port if not given)."""
    dead = closed_port_url()
    return {
        "VLLM_URL": vllm.url if vllm else dead,
        "OLLAMA_URL": ollama.url if ollama else dead,
        "VAST_API_URL": vast.url if vast else dead,
        "VAST_AUTOSCALER_URL": vast.url if vast else dead,
        **({"VAST_API_KEY": VAST_KEY} if vast else {}),
        **({"SLACK_BOT_TOKEN": SLACK_TOKEN} if slack else {}),
        "SLACK_API_URL": slack.api_url if slack else dead + "/api/",
    }


@contextlib.contextmanager
def dagster_process(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """A Dagster command-line process (``dagster dev``, ``dagster-daemon run``) from the venv, stopped afterwards.

    It gets only ``env`` on top of this process's environment minus any outside configuration.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VAST_", "SLACK_", "TIMESCALE", "SMTP_"))}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / command[0]), *command[1:]],
            cwd=REPO,
            env={**base, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
