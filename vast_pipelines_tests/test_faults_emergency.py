"""Faults on the emergency path (issue 12): an emergency is done, not just requested; counts asserted."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.store.cost_table import COST_TABLE_DDL
from vast_pipelines_tests.conftest import (
    _libpq,
    closed_port_url,
    code_location,
    evaluate_sensor,
    make_resources,
    tick_and_launch,
)
from vast_pipelines_tests.fakes import LoopbackServer, Reply
from vast_pipelines_tests.test_faults import failures, run, runaway
from vast_pipelines_tests.test_faults_outbox import outbox_rows
from vast_pipelines_tests.test_outbox_redelivery import make_due

pytestmark = pytest.mark.faults

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


def launch(request: dg.RunRequest, resources: dict, instance) -> dg.ExecuteInProcessResult:
    """What the daemon does with a run request: a run of emergency_shutdown with its config and tags."""
    job = code_location().resolve_job_def("emergency_shutdown")
    return job.execute_in_process(
        run_config=request.run_config, tags=request.tags, instance=instance, resources=resources, raise_on_error=False
    )


def test_an_emergency_run_that_dies_is_started_again_until_one_completes(database, vast_server, instance, at, tmp_path):
    at(NOW)
    runaway(database)
    ours = vast_server.add_endpoint("llama-3-70b")
    env = tmp_path / ".env"
    env.write_text("USE_VASTAI=true\n")
    good = make_resources(
        database, vast=vast_server, actions="apply", router_env=env, restart_command=f"{sys.executable} -c pass"
    )
    broken = make_resources(database, vast=vast_server, actions="apply", shutdown="bogus")  # dies at the re-check
    first = evaluate_sensor("runaway_cost_sensor", good, instance)
    [request] = first.run_requests
    assert request.run_key == "runaway:2026-03-14"
    assert not launch(request, broken, instance).success
    assert vast_server.endpoints[ours]["endpoint_state"] == "active"  # nothing was stopped

    waiting = evaluate_sensor("runaway_cost_sensor", good, instance, first.cursor)
    assert waiting.run_requests == [] and "backing off after 1 failed run" in waiting.skip_message
    at(NOW + timedelta(minutes=1))
    [retry] = evaluate_sensor("runaway_cost_sensor", good, instance, waiting.cursor).run_requests
    assert retry.run_key == "runaway:2026-03-14:retry1" and retry.tags["vast_pipelines/attempt"] == "2"
    assert launch(retry, good, instance).success
    assert vast_server.endpoints[ours]["endpoint_state"] == "stopped"
    at(NOW + timedelta(minutes=30))
    done = evaluate_sensor("runaway_cost_sensor", good, instance)  # even without its cursor
    assert done.run_requests == [] and "runaway:2026-03-14: done" in done.skip_message
    runs = instance.get_run_records(dg.RunsFilter(job_name="emergency_shutdown"))
    statuses = sorted(r.dagster_run.status.value for r in runs)
    assert statuses == ["FAILURE", "SUCCESS"]  # requested 2, completed 1, lost 0
    assert len(vast_server.calls_to(f"/api/v0/endptjobs/{ours}/", "PUT")) == 1  # one stop call


def test_retries_are_bounded(database, instance, at):
    at(NOW)
    runaway(database)
    broken = make_resources(database, shutdown="bogus")
    cursor, keys = None, []
    for minute in range(0, 60, 1):
        at(NOW + timedelta(minutes=minute))
        tick = evaluate_sensor("runaway_cost_sensor", broken, instance, cursor)
        cursor = tick.cursor
        for request in tick.run_requests:
            keys.append(request.run_key)
            assert not launch(request, broken, instance).success
    assert keys == ["runaway:2026-03-14", *(f"runaway:2026-03-14:retry{n}" for n in (1, 2, 3))]
    assert "gave up after 4 failed run(s)" in tick.skip_message


def test_a_stood_down_run_answers_the_day(database, instance, at):
    at(NOW)
    runaway(database)
    resources = make_resources(database, thresholds="runaway_daily=50")
    [request] = evaluate_sensor("runaway_cost_sensor", resources, instance).run_requests
    calm = make_resources(database, thresholds="runaway_daily=100")  # the re-check finds it no longer exceeds
    assert launch(request, calm, instance).success
    at(NOW + timedelta(hours=1))
    assert evaluate_sensor("runaway_cost_sensor", resources, instance).run_requests == []


def failure_context(instance, result: dg.ExecuteInProcessResult, resources: dict):
    run = instance.get_run_by_id(result.run_id)
    [event] = [e.dagster_event for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
    return dg.build_run_status_sensor_context(
        sensor_name="emergency_run_failure_sensor",
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources=resources,
    ).for_run_failure()


def test_a_failed_emergency_run_pages_on_call_once(database, slack_server, smtp_server, instance, at):
    at(NOW)
    runaway(database)
    resources = make_resources(database, slack=slack_server, smtp=smtp_server, shutdown="bogus")
    [request] = evaluate_sensor("runaway_cost_sensor", resources, instance).run_requests
    result = launch(request, resources, instance)
    assert not result.success
    sensor = code_location().resolve_sensor_def("emergency_run_failure_sensor")
    sensor(failure_context(instance, result, resources))
    sensor(failure_context(instance, result, resources))  # the same failure seen twice (a restarted daemon)
    [page] = slack_server.messages
    assert "`emergency_shutdown` run failed" in page["text"] and "<!subteam^S0PLATFORMOPS>" in page["text"]
    assert "VAST_EMERGENCY_SHUTDOWN" in page["text"] and result.run_id in page["text"]
    assert len(smtp_server.messages) == 1  # delivered 2 (Slack, email), doubled 0


# --- on-call is told even when the database is not there -------------------------------------------------


def database_killer(tmp_path, admin_url: str, database_url: str) -> str:
    """An AGENT_ROUTER_RESTART_COMMAND that takes the analytics database away (no new connections, existing
    ones ended): the database dies in the middle of the emergency, after the endpoints were stopped."""
    name = make_url(database_url).database
    script = tmp_path / "kill_database.py"
    script.write_text(
        "import psycopg\n"
        f"with psycopg.connect({_libpq(admin_url)!r}, autocommit=True) as conn:\n"
        f"    conn.execute('ALTER DATABASE {name} ALLOW_CONNECTIONS false')\n"
        f"    conn.execute(\"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'\")\n"
    )
    return f"{sys.executable} {script}"


def revive(admin_url: str, database_url: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {make_url(database_url).database} ALLOW_CONNECTIONS true")


@pytest.mark.parametrize("slack_up", [True, False])
def test_the_database_dying_mid_emergency_still_tells_on_call_and_the_outbox_catches_up(
    fresh_database_url, pg_admin_url, vast_server, slack_server, smtp_server, instance, at, tmp_path, slack_up
):
    at(NOW)
    database = AnalyticsDatabase(url=fresh_database_url, home=str(tmp_path / "home"), connect_attempts=1)
    with psycopg.connect(_libpq(fresh_database_url), autocommit=True) as conn:
        for statement in COST_TABLE_DDL:
            conn.execute(statement)
    runaway(database)
    ours = vast_server.add_endpoint("llama-3-70b")
    env = tmp_path / ".env"
    env.write_text("USE_VASTAI=true\n")
    if not slack_up:
        slack_server.script("POST", "/api/chat.postMessage", Reply(503, "down"))
        smtp_server.refuse = "451 4.3.0 try again later"
    resources = make_resources(
        database,
        vast=vast_server,
        slack=slack_server,
        smtp=smtp_server,
        actions="apply",
        router_env=env,
        restart_command=database_killer(tmp_path, pg_admin_url, fresh_database_url),
    )
    try:
        result = run_emergency(resources, instance)
    finally:
        revive(pg_admin_url, fresh_database_url)
    assert vast_server.endpoints[ours]["endpoint_state"] == "stopped" and "USE_VASTAI=false" in env.read_text()
    failure = failures(result)
    assert "Record the incident" in failure
    spooled = list((tmp_path / "home" / "outbox-spool").glob("*.json"))
    assert len(spooled) == 2  # Slack and email copies kept for the outbox: lost 0
    if slack_up:
        [page] = slack_server.messages
        assert "Cannot reach the analytics database" in page["text"] and len(smtp_server.messages) == 1
        assert "on-call was notified with the details" in failure
    else:
        assert slack_server.messages == [] and smtp_server.messages == []
        assert "NOT delivered yet" in failure and "was notified" not in failure  # no claim of a delivery
        smtp_server.refuse = None

    # The database is back: the next outbox tick writes both copies to the outbox (and retries what failed).
    tick = tick_and_launch("notification_outbox_sensor", resources, instance)
    rows = outbox_rows(database)
    assert [(r["transport"], r["kind"]) for r in rows] == [
        ("slack", "emergency_shutdown"),
        ("email", "emergency_shutdown"),
    ]
    assert list((tmp_path / "home" / "outbox-spool").glob("*.json")) == []
    if not slack_up:
        make_due(database)
        tick_and_launch("notification_outbox_sensor", resources, instance, tick.cursor)
    assert [r["status"] for r in outbox_rows(database)] == ["delivered", "delivered"]
    assert len(slack_server.messages) == 1 and len(smtp_server.messages) == 1  # delivered 2, doubled 0, lost 0


def run_emergency(resources: dict, instance, reason: str = "runaway") -> dg.ExecuteInProcessResult:
    return run(
        "emergency_shutdown", resources, instance, {"ops": {"check_current_spend": {"config": {"reason": reason}}}}
    )


# --- goal state, not last state ---------------------------------------------------------------------------


def test_a_relaunch_after_a_failed_restart_restarts_the_router(
    database, vast_server, slack_server, instance, at, tmp_path
):
    at(NOW)
    runaway(database)
    vast_server.add_endpoint("llama-3-70b")
    env = tmp_path / ".env"
    env.write_text("USE_VASTAI=true\n")
    marker = tmp_path / "restarts.log"
    broken = f'{sys.executable} -c "import sys; sys.exit(3)"'
    fixed = f"{sys.executable} -c \"open('{marker}', 'a').write('restart\\n')\""

    def emergency(command: str | None, reason: str = "runaway") -> dg.ExecuteInProcessResult:
        resources = make_resources(
            database, vast=vast_server, slack=slack_server, actions="apply", router_env=env, restart_command=command
        )
        return run_emergency(resources, instance, reason)

    first = emergency(broken)
    assert not first.success and "USE_VASTAI=false" in env.read_text() and not marker.exists()
    second = emergency(fixed)  # the .env already says false: that is not the router running with it
    assert second.success and marker.read_text().count("restart") == 1
    assert "not confirmed running with USE_VASTAI=false" in second.output_for_node("fallback_restart_router").summary
    third = emergency(fixed)
    assert third.success and marker.read_text().count("restart") == 1  # confirmed by the second run: 0 restarts
    assert f"by run {second.run_id}" in third.output_for_node("fallback_restart_router").summary
    incidents = [i["after_state"]["router_confirmed"] for i in incident_rows(database)]
    assert incidents == [None, "false", "false"]  # recorded per incident

    env.write_text("USE_VASTAI=true\n")  # put back by hand
    none = emergency(None, "manual")  # launched by hand, no restart command
    assert not none.success  # needs action: not green
    page = slack_server.messages[-1]["text"]
    assert "restart agent-router by hand" in page


def test_restore_restarts_the_router_unless_confirmed(
    database, vast_server, vllm, slack_server, instance, at, tmp_path
):
    at(NOW)
    vast_server.add_endpoint("llama-3-70b", state="stopped")
    env = tmp_path / ".env"
    env.write_text("USE_VASTAI=true\n")  # someone put it back by hand, without restarting
    marker = tmp_path / "restarts.log"
    fixed = f"{sys.executable} -c \"open('{marker}', 'a').write('restart\\n')\""
    resources = make_resources(
        database,
        vast=vast_server,
        vllm_url=vllm.url,
        slack=slack_server,
        actions="apply",
        router_env=env,
        restart_command=fixed,
    )
    database.incidents.confirm_router(run_id="an-earlier-emergency", use_vastai="false")
    job = code_location().resolve_job_def("restore_service")
    first = job.execute_in_process(instance=instance, resources=resources, raise_on_error=False)
    assert first.success and marker.read_text().count("restart") == 1
    again = job.execute_in_process(instance=instance, resources=resources, raise_on_error=False)
    assert again.success and marker.read_text().count("restart") == 1  # confirmed true by the first restore


def incident_rows(database) -> list[dict]:
    with database.begin() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM vast_pipelines.incidents ORDER BY id")).mappings()]


# --- the router file, edited in place safely ---------------------------------------------------------------


def test_a_symlinked_env_owned_by_the_router_user_keeps_link_owner_mode_comment_and_quotes(
    database, vast_server, slack_server, instance, at, tmp_path
):
    at(NOW)
    runaway(database)
    vast_server.add_endpoint("llama-3-70b")
    real = tmp_path / "config" / "agent-router.env"
    real.parent.mkdir()
    original = 'export OPENAI_API_KEY="sk-keep"\nUSE_VASTAI="true" # on\nX=a#b\n'
    real.write_text(original)
    real.chmod(0o600)
    os.chown(real, 1234, 2345)  # agent-router's user and group
    link = tmp_path / "docker" / ".env"
    link.parent.mkdir()
    link.symlink_to(real)
    marker = tmp_path / "restarts.log"
    resources = make_resources(
        database,
        vast=vast_server,
        slack=slack_server,
        actions="apply",
        router_env=link,
        restart_command=f"{sys.executable} -c \"open('{marker}', 'a').write('restart\\n')\"",
    )
    result = run_emergency(resources, instance)
    assert result.success
    assert link.is_symlink() and link.resolve() == real  # the link is still a link
    assert real.read_text() == original.replace('USE_VASTAI="true" # on', 'USE_VASTAI="false" # on')
    info = real.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 2345, 0o600)
    assert AgentRouterResource(env_file=str(link)).read("USE_VASTAI") == "false"  # not '"false"'
    [backup] = real.parent.glob("agent-router.env.bak-*")
    assert backup.read_text() == original and (backup.stat().st_uid, stat.S_IMODE(backup.stat().st_mode)) == (
        1234,
        0o600,
    )
    assert sorted(p.name for p in link.parent.iterdir()) == [".env"]  # nothing written beside the link


# --- the dead-man's switch --------------------------------------------------------------------------------


def test_each_good_runaway_tick_pings_the_heartbeat_and_a_blind_tick_does_not(database, instance, at):
    at(NOW)
    monitor = LoopbackServer()
    monitor.route("GET", "/ping/3f1c", Reply(200, "OK"))
    with monitor:
        resources = make_resources(database, heartbeat_url=f"{monitor.url}/ping/3f1c")
        first = evaluate_sensor("runaway_cost_sensor", resources, instance)
        evaluate_sensor("runaway_cost_sensor", resources, instance, first.cursor)
        assert len(monitor.calls_to("/ping/3f1c", "GET")) == 2  # one ping per good tick
        down = AnalyticsDatabase(url="postgresql://bluefly@127.0.0.1:1/analytics", connect_attempts=1)
        blind = make_resources(down, heartbeat_url=f"{monitor.url}/ping/3f1c")
        with contextlib.suppress(Exception):  # a tick that cannot judge raises (red) or skips: no heartbeat either way
            evaluate_sensor("runaway_cost_sensor", blind, instance)
        assert len(monitor.calls_to("/ping/3f1c", "GET")) == 2  # 0 pings while blind: the monitor pages
    gone = make_resources(database, heartbeat_url=closed_port_url() + "/ping/3f1c")
    tick = evaluate_sensor("runaway_cost_sensor", gone, instance)  # the monitor unreachable: not fatal
    assert tick.run_requests == [] and "no new emergency" in tick.skip_message
    assert "(heartbeat not sent: ConnectError)" in tick.skip_message and "3f1c" not in tick.skip_message  # a secret
