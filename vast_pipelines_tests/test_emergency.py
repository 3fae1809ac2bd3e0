import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from vast_pipelines.resources.vast import VastAIResource
from vast_pipelines_tests.conftest import (
    SLACK_TOKEN,
    VAST_KEY,
    closed_port_url,
    code_location,
    evaluate_sensor,
    insert_costs,
    make_resources,
)
from vast_pipelines_tests.fakes import Reply

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
ENV = """# agent-router settings (keep this comment)
export OPENAI_API_KEY="sk-keep-me"
USE_VASTAI=true  # flip to false for CPU fallback
VLLM_ENDPOINT_LLAMA3='http://vastai-gpu:8000/v1'

LOG_LEVEL=info
"""


@pytest.fixture
def router_env(tmp_path: Path) -> Path:
    env = tmp_path / "agent-router" / ".env"
    env.parent.mkdir()
    env.write_text(ENV)
    return env


@pytest.fixture
def restart(tmp_path: Path) -> tuple[str, Path]:
    """AGENT_ROUTER_RESTART_COMMAND that appends a line to a file each time it runs."""
    marker = tmp_path / "restarts.log"
    return f"{sys.executable} -c \"open('{marker}', 'a').write('restart\\n')\"", marker


def runaway_day(database, today: float = 62.10, earlier: float = 80.0) -> None:
    insert_costs(
        database,
        [
            (NOW - timedelta(hours=2), "llama-3-70b", today, 40.0, False),
            (datetime(2026, 3, 3, 10, tzinfo=UTC), "llama-3-70b", earlier, 40.0, False),
        ],
    )


def run_job(name: str, resources: dict, instance, run_config: dict | None = None, tags: dict | None = None):
    job = code_location().resolve_job_def(name)
    return job.execute_in_process(
        run_config=run_config or {}, tags=tags, instance=instance, resources=resources, raise_on_error=False
    )


def step(result: dg.ExecuteInProcessResult, op: str):
    return result.output_for_node(op)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.event_specific_data.error.message


def incidents(database) -> list[dict]:
    with database.begin() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM vast_pipelines.incidents ORDER BY id")).mappings()]


# --- runaway_cost_sensor ----------------------------------------------------------------------------


def test_a_runaway_day_starts_one_emergency_run_per_day(database, instance, at):
    at(NOW)
    runaway_day(database)
    resources = make_resources(database)
    first = evaluate_sensor("runaway_cost_sensor", resources, instance)
    [request] = first.run_requests
    assert request.run_key == "runaway:2026-03-14"
    assert request.run_config == {
        "ops": {"check_current_spend": {"config": {"reason": "runaway", "trigger_spend": pytest.approx(62.1)}}}
    }
    assert request.tags["vast_pipelines/emergency"] == "true" and request.tags["vast_pipelines/reason"] == "runaway"
    assert request.tags["vast_pipelines/today_spend"] == "62.10"
    assert request.tags["vast_pipelines/month_to_date"] == "142.10"
    assert "$62.10 spent today, over the $50.00/day limit" in request.tags["vast_pipelines/trigger"]

    again = evaluate_sensor("runaway_cost_sensor", resources, instance, first.cursor)
    assert again.run_requests == [] and "no new emergency" in again.skip_message
    # Without its cursor (a wiped sensor state) the tick asks for the same run key, which the daemon refuses.
    assert [r.run_key for r in evaluate_sensor("runaway_cost_sensor", resources, instance).run_requests] == [
        "runaway:2026-03-14"
    ]

    at(NOW + timedelta(days=1))
    quiet = evaluate_sensor("runaway_cost_sensor", resources, instance, again.cursor)
    assert quiet.run_requests == [] and "no cost rows logged today" in quiet.skip_message
    insert_costs(database, [(NOW + timedelta(days=1, hours=-1), "llama-3-70b", 51.0, 40.0, False)])
    next_day = evaluate_sensor("runaway_cost_sensor", resources, instance, quiet.cursor)
    assert [r.run_key for r in next_day.run_requests] == ["runaway:2026-03-15"]


def test_the_hard_cap_fires_once_per_month_and_outranks_a_runaway_day(database, instance, at, router_env, vast_server):
    at(NOW)
    runaway_day(database, today=60.0, earlier=150.0)  # $210 this month, $60 today
    resources = make_resources(database, router_env=router_env, vast=vast_server)
    first = evaluate_sensor("runaway_cost_sensor", resources, instance)
    [request] = first.run_requests
    assert request.run_key == "hard_cap:2026-03"
    assert request.tags["vast_pipelines/reason"] == "hard_cap,runaway"
    assert request.run_config["ops"]["check_current_spend"]["config"]["reason"] == "hard_cap"
    assert evaluate_sensor("runaway_cost_sensor", resources, instance, first.cursor).run_requests == []
    assert run_job("emergency_shutdown", resources, instance, request.run_config, request.tags).success
    at(NOW + timedelta(days=1))
    calm = evaluate_sensor("runaway_cost_sensor", resources, instance, first.cursor)
    # Still over the cap and a new day over the runaway limit, but this month's run completed and answered both.
    assert calm.run_requests == []


def test_below_the_limits_nothing_runs(database, instance, at):
    at(NOW)
    insert_costs(database, [(NOW - timedelta(hours=1), "llama-2-7b", 50.0, 1.0, False)])  # "> $50/day"
    tick = evaluate_sensor("runaway_cost_sensor", make_resources(database), instance)
    assert tick.run_requests == [] and "Today $50.00" in tick.skip_message


# --- emergency_shutdown ------------------------------------------------------------------------------


def test_dry_run_reports_the_exact_calls_and_changes_nothing(
    database, instance, at, vast_server, slack_server, smtp_server, router_env, restart
):
    at(NOW)
    runaway_day(database)
    ours = vast_server.add_endpoint("llama-3-70b")
    command, marker = restart
    resources = make_resources(
        database, vast=vast_server, slack=slack_server, smtp=smtp_server, router_env=router_env, restart_command=command
    )
    [request] = evaluate_sensor("runaway_cost_sensor", resources, instance).run_requests
    result = run_job("emergency_shutdown", resources, instance, request.run_config, request.tags)

    assert result.success
    assert [c.method for c in vast_server.calls] == ["GET"]
    assert vast_server.endpoints[ours]["endpoint_state"] == "active"
    assert router_env.read_text() == ENV and not marker.exists()
    assert [p.name for p in router_env.parent.iterdir()] == [".env"]  # no backup: nothing was written

    stop = step(result, "stop_endpoints")
    assert stop.ok and stop.planned == (
        f'PUT {vast_server.url}/api/v0/endptjobs/{ours}/ {{"endpoint_state": "stopped"}}',
    )
    [message] = slack_server.messages
    text = message["text"]
    assert message["channel"] == "#platform-alerts" and "<!subteam^S0PLATFORMOPS>" in text and "DRY RUN" in text
    assert f"/api/v0/endptjobs/{ours}/" in text and f"set USE_VASTAI=false in {router_env} (now true)" in text
    assert f"run: {command}" in text and "Incident #1 recorded" in text
    assert "Runaway costs: $62.10 spent today" in text
    [email] = smtp_server.messages
    assert "EMERGENCY" in str(email["Subject"]) and "DRY RUN" in email.get_content()

    [incident] = incidents(database)
    assert (incident["kind"], incident["mode"], incident["status"], incident["run_id"]) == (
        "runaway",
        "dry-run",
        "open",
        result.run_id,
    )
    assert incident["before_state"]["endpoints"] == [{"id": ours, "name": "llama-3-70b", "state": "active"}]
    assert incident["after_state"]["USE_VASTAI"] == "true" and incident["failures"] == []
    assert result.dagster_run.tags["vast_pipelines/emergency"] == "true"


@pytest.mark.parametrize("named", ["llama-3-70b,llama-2-7b", None], ids=["VAST_ENDPOINTS set", "VAST_ENDPOINTS unset"])
def test_a_dry_run_without_credentials_still_lists_its_plan_and_ends_not_configured(
    database, instance, at, smtp_server, named
):
    """No VAST_API_KEY, no AGENT_ROUTER_ENV_FILE: the plan is still made, the run ends "not configured", green."""
    at(NOW)
    runaway_day(database)
    resources = make_resources(database, smtp=smtp_server, vast_endpoints=named)
    [request] = evaluate_sensor("runaway_cost_sensor", resources, instance).run_requests
    result = run_job("emergency_shutdown", resources, instance, request.run_config, request.tags)

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    listing, stop = step(result, "list_platform_endpoints"), step(result, "stop_endpoints")
    switch, restart = step(result, "fallback_switch_router"), step(result, "fallback_restart_router")
    assert listing.planned == (f"GET {closed_url(resources)}/api/v0/endptjobs/",)
    if named:
        assert stop.summary == "would stop 2 endpoint(s); not configured: VAST_API_KEY is not set"
        assert stop.planned == tuple(
            f'{name}: PUT {closed_url(resources)}/api/v0/endptjobs/{{id of {name}}}/ {{"endpoint_state": "stopped"}}'
            for name in ("llama-3-70b", "llama-2-7b")
        )
    else:
        [call] = stop.planned
        assert call.startswith("every endpoint named in VAST_ENDPOINTS (unset: every endpoint of the account): PUT ")
    assert switch.planned == ("set USE_VASTAI=false in agent-router's .env (AGENT_ROUTER_ENV_FILE, not set)",)
    assert restart.planned == ("run: (AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand)",)
    assert all(s.ok and s.error is None for s in (listing, stop, switch, restart))

    [outcome] = [
        e.event_specific_data.metadata["outcome"].value
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT" and e.step_key == "shutdown_outcome"
    ]
    assert outcome.startswith(
        "Emergency shutdown, dry run: not configured (VAST_API_KEY, AGENT_ROUTER_ENV_FILE not set)"
    )
    run = instance.get_run_by_id(result.run_id)
    assert run.tags["vast_pipelines/mode"] == "dry-run"
    assert run.tags["vast_pipelines/title"] == "DRY RUN of emergency_shutdown: a plan, nothing is changed"

    # The email is plain text: no Slack emoji codes or *bold* marks.
    [email] = smtp_server.messages
    body = email.get_content()
    assert "Vast.ai emergency shutdown: DRY RUN" in body and "Dry run: nothing was changed" in body
    assert ":rotating_light:" not in body and "*" not in body


def closed_url(resources: dict) -> str:
    return resources["vast"].api_url.rstrip("/")


def test_apply_stops_the_platforms_endpoints_and_switches_the_router(
    database, instance, at, vast_server, slack_server, router_env, restart
):
    at(NOW)
    runaway_day(database)
    ours = vast_server.add_endpoint("llama-3-70b", workers=[{"id": 9, "status": "running"}])
    idle = vast_server.add_endpoint("llama-2-7b", state="stopped")
    theirs = vast_server.add_endpoint("someone-elses")
    command, marker = restart
    resources = make_resources(
        database,
        vast=vast_server,
        vast_endpoints="llama-3-70b,llama-2-7b",
        slack=slack_server,
        router_env=router_env,
        restart_command=command,
        actions="apply",
    )
    result = run_job("emergency_shutdown", resources, instance, {"ops": {"check_current_spend": {"config": {}}}})

    assert result.success
    assert vast_server.endpoints[ours]["endpoint_state"] == "stopped"
    assert vast_server.endpoints[theirs]["endpoint_state"] == "active"  # not in VAST_ENDPOINTS
    assert [(c.method, c.path) for c in vast_server.calls if c.method != "GET"] == [
        ("PUT", f"/api/v0/endptjobs/{ours}/")
    ]
    assert f"llama-2-7b (id {idle}): already stopped" in step(result, "stop_endpoints").details

    lines = router_env.read_text().splitlines()
    assert lines[2] == "USE_VASTAI=false  # flip to false for CPU fallback"  # the comment kept
    assert lines[:2] + lines[3:] == ENV.splitlines()[:2] + ENV.splitlines()[3:]
    [backup] = [p for p in router_env.parent.iterdir() if p.name.startswith(".env.bak-")]
    assert backup.read_text() == ENV
    assert marker.read_text() == "restart\n"

    [incident] = incidents(database)
    assert (incident["kind"], incident["mode"]) == ("manual", "apply")
    assert {e["name"]: e["state"] for e in incident["before_state"]["endpoints"]} == {
        "llama-3-70b": "active",
        "llama-2-7b": "stopped",
    }
    assert {e["name"]: e["state"] for e in incident["after_state"]["endpoints"]} == {
        "llama-3-70b": "stopped",
        "llama-2-7b": "stopped",
    }
    assert (incident["before_state"]["USE_VASTAI"], incident["after_state"]["USE_VASTAI"]) == ("true", "false")
    text = slack_server.messages[0]["text"]
    assert "APPLIED" in text and "✅ Shut down the endpoints: 2 endpoint(s) stopped" in text
    assert "USE_VASTAI true → false" in text and "❌" not in text

    everything = json.dumps([incidents(database), [m["text"] for m in slack_server.messages]], default=str)
    with database.begin() as conn:
        everything += json.dumps(
            [list(r) for r in conn.execute(sa.text("SELECT body, last_error FROM vast_pipelines.notification_outbox"))]
        )
    everything += json.dumps([str(e.event_specific_data) for e in result.all_events])
    for secret in (VAST_KEY, SLACK_TOKEN, "endpoint-secret"):
        assert secret not in everything


def test_delete_mode_deletes_and_already_gone_is_success(database, instance, at, vast_server, router_env):
    at(NOW)
    runaway_day(database)
    first = vast_server.add_endpoint("llama-3-70b")
    gone = vast_server.add_endpoint("llama-3-8b")
    vast_server.script("DELETE", f"/api/v0/endptjobs/{gone}/", Reply(404, {"success": False, "msg": "not found"}))
    resources = make_resources(database, vast=vast_server, router_env=router_env, actions="apply", shutdown="delete")
    result = run_job("emergency_shutdown", resources, instance, {"ops": {"check_current_spend": {"config": {}}}})
    stop = step(result, "stop_endpoints")
    assert stop.ok and first not in vast_server.endpoints
    assert stop.details == (f"llama-3-70b (id {first}): deleted", f"llama-3-8b (id {gone}): already gone")
    assert incidents(database)[0]["after_state"]["shutdown"] == "delete"


def test_vast_ai_down_still_switches_notifies_and_records_what_failed(
    database, instance, at, slack_server, smtp_server, router_env, restart
):
    at(NOW)
    runaway_day(database)
    command, marker = restart
    resources = make_resources(
        database, slack=slack_server, smtp=smtp_server, router_env=router_env, restart_command=command, actions="apply"
    )
    dead = closed_port_url()
    resources["vast"] = VastAIResource(
        api_url=dead,
        autoscaler_url=dead,
        api_key=VAST_KEY,
        max_attempts=2,
        first_backoff_seconds=0.01,
        emergency_wait_seconds=0.05,
    )
    result = run_job(
        "emergency_shutdown", resources, instance, {"ops": {"check_current_spend": {"config": {"reason": "runaway"}}}}
    )

    assert not result.success
    assert "2 step(s) failed (List the platform's endpoints, Shut down the endpoints)" in failure_message(result)
    assert step(result, "notify_oncall").ok and step(result, "record_incident").ok
    assert "USE_VASTAI=false" in router_env.read_text() and marker.exists()
    [message] = slack_server.messages
    assert "❌ List the platform's endpoints: failed" in message["text"]
    assert (
        "failed after at least 2 attempts over 0.05s with back-off: ConnectError" in message["text"]
        and "2 step(s) failed" in message["text"]
    )
    assert "2 step(s) failed" in str(smtp_server.messages[0]["Subject"])
    [incident] = incidents(database)
    assert [f["step"] for f in incident["failures"]] == ["List the platform's endpoints", "Shut down the endpoints"]
    assert incident["after_state"]["USE_VASTAI"] == "false"


def test_spend_that_no_longer_exceeds_stands_down(database, instance, at, vast_server, slack_server, router_env):
    at(NOW)
    insert_costs(database, [(NOW - timedelta(hours=1), "llama-3-70b", 20.0, 40.0, False)])
    resources = make_resources(database, vast=vast_server, slack=slack_server, router_env=router_env, actions="apply")
    config = {"ops": {"check_current_spend": {"config": {"reason": "runaway", "trigger_spend": 62.1}}}}
    result = run_job("emergency_shutdown", resources, instance, config)
    assert result.success
    assert "Stood down: the spend no longer exceeds" in result.output_for_node("check_current_spend", "stood_down")
    assert vast_server.calls == [] and slack_server.messages == [] and router_env.read_text() == ENV
    assert incidents(database) == []


# --- restore_service ---------------------------------------------------------------------------------


def test_restore_is_refused_while_the_reason_holds_then_forced_back(
    database, instance, at, vast_server, slack_server, router_env, restart, vllm
):
    at(NOW)
    runaway_day(database)
    ours = vast_server.add_endpoint("llama-3-70b")
    kept = vast_server.add_endpoint("llama-2-7b", state="stopped")  # stopped before the emergency: stays so
    command, marker = restart
    resources = make_resources(
        database,
        vllm_url=vllm.url,
        vast=vast_server,
        slack=slack_server,
        router_env=router_env,
        restart_command=command,
        actions="apply",
    )
    assert run_job("emergency_shutdown", resources, instance).success

    refused = run_job("restore_service", resources, instance)
    assert not refused.success
    assert "Restore refused: Runaway costs: $62.10 spent today" in failure_message(refused)
    assert "force: true" in failure_message(refused)
    assert vast_server.endpoints[ours]["endpoint_state"] == "stopped" and "USE_VASTAI=false" in router_env.read_text()

    forced = run_job(
        "restore_service", resources, instance, {"ops": {"check_restore_allowed": {"config": {"force": True}}}}
    )
    assert forced.success
    assert vast_server.endpoints[ours]["endpoint_state"] == "active"
    assert vast_server.endpoints[kept]["endpoint_state"] == "stopped"
    assert (
        router_env.read_text().splitlines()[2] == "USE_VASTAI=true  # flip to false for CPU fallback"
        and marker.read_text().count("restart") == 2
    )
    assert step(forced, "verify_models").summary == "vLLM answers: llama-2-7b"
    [incident] = incidents(database)
    assert (incident["status"], incident["restore_run_id"]) == ("resolved", forced.run_id)
    assert incident["restored_state"]["USE_VASTAI"] == "true"
    restore_text = slack_server.messages[-1]["text"]
    assert "Vast.ai service restore" in restore_text and "Forced although: Runaway costs" in restore_text
    assert "Incident(s) closed: #1." in restore_text


def test_restore_the_next_day_needs_no_force_and_a_dead_vllm_keeps_the_incident_open(
    database, instance, at, vast_server, slack_server, router_env
):
    at(NOW)
    runaway_day(database)
    vast_server.add_endpoint("llama-3-70b")
    resources = make_resources(database, vast=vast_server, slack=slack_server, router_env=router_env, actions="apply")
    run_job("emergency_shutdown", resources, instance)
    at(NOW + timedelta(days=1))
    result = run_job("restore_service", resources, instance)  # nothing listens where vLLM should be
    assert not result.success
    # No restart command: the router was not restarted, so the run needs action (restart by hand), never green.
    assert "2 step(s) failed (Restart agent-router, Verify vLLM /v1/models answers)" in failure_message(result)
    restart_step = step(result, "restore_restart_router")
    assert not restart_step.ok and "AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand" in (
        restart_step.error
    )
    assert step(result, "close_incident").summary == "left open: the service is not verified back"
    assert incidents(database)[0]["status"] == "open"
    assert "the incident stays open" in slack_server.messages[-1]["text"]
