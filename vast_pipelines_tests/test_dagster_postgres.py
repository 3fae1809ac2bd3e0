import json
import shutil
import time

import dagster as dg
import psycopg
import yaml

from vast_pipelines.definitions import defs
from vast_pipelines_tests.conftest import REPO, _libpq, dagster_process, loopback_environment, make_resources

PRODUCTION_INSTANCE = REPO / "deploy" / "dagster.postgres.yaml"


def test_dagster_runs_on_postgres_storage_from_the_documented_config(database, fresh_database_url, monkeypatch):
    """The production dagster.yaml, pointed at a database on the test server, stores real runs."""
    storage_url = _libpq(fresh_database_url)
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", storage_url.replace("postgresql://", "postgresql+psycopg2://"))
    config = yaml.safe_load(PRODUCTION_INSTANCE.read_text())
    with dg.instance_for_test(overrides={"storage": config["storage"]}) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        job = defs().resolve_job_def("daily_health_check")
        result = job.execute_in_process(instance=instance, resources=make_resources(database))
        assert result.success
        assert instance.get_run_by_id(result.run_id).is_success
    with psycopg.connect(storage_url) as conn:
        stored = conn.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,)).fetchone()[0]
    assert stored == 1


def _daemon_progress(storage_url: str) -> tuple[int, set[str]]:
    """Heartbeats recorded, and the names of instigators that have ticked, read from Dagster's tables."""
    with psycopg.connect(storage_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        heartbeats = (
            conn.execute("SELECT count(*) FROM daemon_heartbeats").fetchone()[0] if "daemon_heartbeats" in tables else 0
        )
        bodies = conn.execute("SELECT tick_body FROM job_ticks").fetchall() if "job_ticks" in tables else []
    # TickData keeps its old storage name for instigator_name.
    return heartbeats, {json.loads(body)["job_name"] for (body,) in bodies}


def test_daemon_ticks_against_postgres_storage(embedded_home, fresh_database_url, tmp_path):
    """`dagster-daemon run` on the production instance config: heartbeats and sensor ticks land in PostgreSQL."""
    storage_url = _libpq(fresh_database_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_INSTANCE, home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_POSTGRES_URL": storage_url.replace("postgresql://", "postgresql+psycopg2://"),
        "VAST_PIPELINES_HOME": str(embedded_home),
        **loopback_environment(),
    }
    running_sensors = {
        s.name for s in defs().get_repository_def().sensor_defs if s.default_status == dg.DefaultSensorStatus.RUNNING
    }
    command = ["dagster-daemon", "run", "-w", str(REPO / "workspace.yaml")]
    with dagster_process(command, env, tmp_path / "daemon.log") as daemon:
        deadline = time.monotonic() + 150
        heartbeats, ticked = 0, set()
        while time.monotonic() < deadline:
            time.sleep(2)
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            heartbeats, ticked = _daemon_progress(storage_url)
            if heartbeats >= 3 and running_sensors <= ticked:
                break
    assert heartbeats >= 3, "daemons (scheduler, sensor, run queue, ...) report heartbeats to PostgreSQL"
    assert running_sensors <= ticked, f"sensors that never ticked: {running_sensors - ticked}"
