from pathlib import Path

import dagster as dg
import psycopg
import yaml

from vast_pipelines.definitions import defs
from vast_pipelines_tests.conftest import _libpq, make_resources

PRODUCTION_INSTANCE = Path(__file__).parents[1] / "deploy" / "dagster.postgres.yaml"


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
