"""Faults on the emergency path (issue 12): an emergency is done, not just requested; counts asserted."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from vast_pipelines_tests.conftest import code_location, evaluate_sensor, insert_costs, make_resources

pytestmark = pytest.mark.faults

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def runaway(database) -> None:
    insert_costs(database, [(NOW - timedelta(hours=2), "llama-3-70b", 62.0, 40.0, False)])


def launch(request: dg.RunRequest, resources: dict, instance) -> dg.ExecuteInProcessResult:
    """What the daemon does with a run request: a run of emergency_shutdown with its config and tags."""
    job = code_location().resolve_job_def("emergency_shutdown")
    return job.execute_in_process(
        run_config=request.run_config, tags=request.tags, instance=instance, resources=resources, raise_on_error=False
    )


def test_an_emergency_run_that_dies_is_started_again_until_one_completes(
    database, vast_server, instance, at, tmp_path
):
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
    assert "`emergency_shutdown` run failed" in page["text"] and "@platform-ops" in page["text"]
    assert "VAST_EMERGENCY_SHUTDOWN" in page["text"] and result.run_id in page["text"]
    assert len(smtp_server.messages) == 1  # delivered 2 (Slack, email), doubled 0
