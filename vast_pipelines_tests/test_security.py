"""Secrets never leak and SQL is never built from data: every job and sensor, run with recognisable fakes."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value
from sqlalchemy.engine import make_url

from vast_pipelines.config import build_resources
from vast_pipelines.definitions import defs
from vast_pipelines.defs.costs.partitions import last_complete_partition
from vast_pipelines_tests.conftest import SLACK_TOKEN, VAST_KEY, _libpq, insert_costs, loopback_environment
from vast_pipelines_tests.fakes import SmtpServer

DB_PASSWORD = "db-SECRET-pw-91c3"
SMTP_PASSWORD = "smtp-SECRET-pw-5e0a"
INJECTION = "x'); DROP TABLE vast_ai_costs;--"
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)

# Launchpad config an operator would give each job; a job missing here fails the test, so new jobs are covered.
JOB_CONFIG = {
    "emergency_shutdown": {"ops": {"check_current_spend": {"config": {"reason": "manual"}}}},
    "restore_service": {"ops": {"check_restore_allowed": {"config": {"force": True}}}},
    # deploy_model and update_worker take their Launchpad form flat (a config mapping).
    "deploy_model": {"model_name": "llama-2-7b", "image": "vllm/vllm-openai:latest", "poll_interval_seconds": 0.01},
    "update_worker": {"endpoint": "llama-2-7b", "idle_timeout": 600},
    "deliver_alerts": {"ops": {"deliver_queued_messages": {"config": {"outbox_ids": [1, 2, 3]}}}},
}


@pytest.fixture
def secret_database_url(fresh_database_url):
    """The test database reached as a role with a password (trust auth accepts it; the URL carries it)."""
    with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE bluefly LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}'")
    yield (
        make_url(fresh_database_url).set(username="bluefly", password=DB_PASSWORD).render_as_string(hide_password=False)
    )
    with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as conn:
        conn.execute("DROP OWNED BY bluefly")
        conn.execute("DROP ROLE bluefly")


def _job_run_config(job: dg.JobDefinition) -> dict:
    for op_name in JOB_CONFIG.get(job.name, {}).get("ops", {}):
        assert op_name in {n.name for n in job.nodes_in_topological_order}, f"{job.name} has no op {op_name}"
    return JOB_CONFIG.get(job.name, {})


def test_no_secret_reaches_logs_metadata_outbox_slack_email_or_stdout(
    database, secret_database_url, vllm, ollama, vast_server, slack_server, tmp_path, monkeypatch, capfd, at
):
    at(NOW)
    router_env = tmp_path / "router.env"
    router_env.write_text("USE_VASTAI=true\n")
    with SmtpServer(user="alerts", password=SMTP_PASSWORD) as smtp:
        for var, value in {
            "TIMESCALE_URL": secret_database_url,
            **loopback_environment(vllm=vllm, ollama=ollama, vast=vast_server, slack=slack_server),
            "SMTP_URL": smtp.url,
            "AGENT_ROUTER_ENV_FILE": str(router_env),
            "AGENT_ROUTER_RESTART_COMMAND": "true",
            "VAST_EMERGENCY_ACTIONS": "apply",
        }.items():
            monkeypatch.setenv(var, value)
        vast_server.worker_url = vllm.url
        vast_server.add_endpoint("llama-2-7b", workers=[{"id": 1, "status": "idle", "cur_load": 0.2}])
        now = NOW
        insert_costs(database, [(now - timedelta(minutes=m), INJECTION, 1.25, 2.0, m % 7 == 0) for m in range(60)])
        insert_costs(database, [(now - timedelta(minutes=5), "llama-2-7b", 0.5, None, None)])

        code_location = defs()
        repo = code_location.get_repository_def()
        resources = build_resources()
        haystack: list[str] = []
        with dg.instance_for_test() as instance:
            for sensor in repo.sensor_defs:
                for _ in range(2):  # a re-evaluated tick must not say more than the first
                    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
                    haystack.append(serialize_value(tick.run_requests or []))
                    haystack.append(serialize_value(tick.asset_events))  # what it records on assets and checks
                    haystack.append(str(tick.skip_message or "") + str(tick.cursor or ""))
            jobs = [j for j in repo.get_all_jobs() if not j.name.startswith("__")]
            assert {j.name for j in jobs} >= {"daily_health_check", *JOB_CONFIG}
            for job in jobs:
                partition = last_complete_partition(job.partitions_def) if job.partitions_def else None
                result = code_location.resolve_job_def(job.name).execute_in_process(
                    instance=instance,
                    resources=resources,
                    run_config=_job_run_config(job),
                    partition_key=partition,
                    raise_on_error=False,
                )
                assert result.success or job.name in ("emergency_shutdown",), (
                    job.name,
                    [e.message for e in result.all_events if e.is_failure],
                )
                haystack.append(serialize_value(instance.get_run_by_id(result.run_id)))
                haystack += [serialize_value(r) for r in instance.all_logs(result.run_id)]
        with database.begin() as conn:
            tables = (
                conn.execute(
                    sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'vast_pipelines'")
                )
                .scalars()
                .all()
            )
            for table in tables:
                rows = conn.execute(sa.text(f"SELECT row_to_json(t)::text FROM vast_pipelines.{table} t")).scalars()
                haystack += list(rows)
            # The injected model name was read back as data; the table it names is still there.
            models = conn.execute(sa.text("SELECT DISTINCT model FROM vast_ai_costs")).scalars().all()
            assert INJECTION in models and len(models) == 2
        haystack += [c.raw.decode(errors="replace") for c in slack_server.calls]
        haystack += [
            json.dumps({k: v for k, v in c.headers.items() if k != "authorization"}) for c in vast_server.calls
        ]
        haystack += [m.as_string() for m in smtp.messages]
        out, err = capfd.readouterr()
        haystack += [out, err]

    assert slack_server.messages and smtp.messages, "the run must have notified, or this test proves nothing"
    text = "\n".join(haystack)
    assert "Health Check" in text  # the haystack holds what was said
    for secret in (VAST_KEY, SLACK_TOKEN, DB_PASSWORD, SMTP_PASSWORD, "endpoint-secret-"):
        assert secret not in text, f"{secret!r} leaked"
