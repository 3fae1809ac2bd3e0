"""Faults on the Vast.ai calls (issue 12): creates never doubled, Retry-After honoured, a minute of 429s ridden
out on emergency calls, a gone endpoint is stopped, one malformed row stops no other. Counts asserted."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from vast_pipelines.resources.vast import VastAIError, VastAIResource
from vast_pipelines_tests.conftest import VAST_KEY, code_location, insert_costs, make_resources
from vast_pipelines_tests.fakes import Reply
from vast_pipelines_tests.jobs import run_job

pytestmark = pytest.mark.faults

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
SPEC = {"endpoint_name": "llama-3-70b", "max_workers": 3}


def client(server, **kw) -> tuple[VastAIResource, list[float]]:
    vast = VastAIResource(
        api_url=server.url, autoscaler_url=server.url, api_key=VAST_KEY, first_backoff_seconds=0.01, **kw
    )
    sleeps: list[float] = []
    vast._sleep = sleeps.append
    return vast, sleeps


def test_a_create_that_timed_out_but_happened_is_not_posted_again(vast_server):
    created = vast_server._create_endpoint
    vast_server.route("POST", "/api/v0/endptjobs/", lambda call: dataclasses.replace(created(call), delay=1.0))
    vast, _ = client(vast_server, timeout_seconds=0.3)
    endpoint_id = vast.create_endpoint(SPEC)
    assert len(vast_server.calls_to("/api/v0/endptjobs/", "POST")) == 1  # write calls: 1
    assert list(vast_server.endpoints) == [endpoint_id]  # created once, twins 0


def test_a_create_that_failed_with_5xx_is_posted_again_only_after_a_read_shows_it_is_not_there(vast_server):
    vast_server.script("POST", "/api/v0/endptjobs/", Reply(503, {"success": False, "msg": "busy"}))
    vast, _ = client(vast_server)
    endpoint_id = vast.create_endpoint(SPEC)
    calls = [(c.method, c.path) for c in vast_server.calls]
    assert calls == [("POST", "/api/v0/endptjobs/"), ("GET", "/api/v0/endptjobs/"), ("POST", "/api/v0/endptjobs/")]
    assert list(vast_server.endpoints) == [endpoint_id]


def test_a_create_is_not_repeated_when_the_read_fails_too(vast_server):
    vast_server.script("POST", "/api/v0/workergroups/", Reply(502, "bad gateway"))
    vast_server.script("GET", "/api/v0/workergroups/", *[Reply(503, "down")] * 5)
    vast, _ = client(vast_server, max_attempts=2)
    with pytest.raises(VastAIError, match="only attempt"):
        vast.create_workergroup({"endpoint_id": 7, "template_hash": "abc"})
    assert len(vast_server.calls_to("/api/v0/workergroups/", "POST")) == 1


def test_retry_after_is_honoured(vast_server):
    vast_server.script("GET", "/api/v0/endptjobs/", Reply(429, {"msg": "slow down"}, headers={"Retry-After": "7"}))
    vast, sleeps = client(vast_server)
    assert vast.list_endpoints() == []
    assert sleeps == [7.0]  # not the 0.01 s back-off


def test_a_minute_of_429s_does_not_stop_the_emergency_stop(vast_server):
    ours = vast_server.add_endpoint("llama-3-70b")
    storm = [Reply(429, {"msg": "rate limited"}, headers={"Retry-After": "5"})] * 13  # 65 s of refusals
    vast_server.script("PUT", f"/api/v0/endptjobs/{ours}/", *storm)
    vast, sleeps = client(vast_server, max_attempts=5)
    assert vast.stop_endpoint(ours) is True
    assert sum(sleeps) >= 60 and vast_server.endpoints[ours]["endpoint_state"] == "stopped"
    assert len(vast_server.calls_to(f"/api/v0/endptjobs/{ours}/", "PUT")) == 14
    # An ordinary (non-emergency) call still gives up after its attempts.
    vast_server.script("GET", "/api/v0/endptjobs/", *storm)
    with pytest.raises(VastAIError, match="HTTP 429 after 5 attempts"):
        vast.list_endpoints()


def emergency(database, vast_server, instance, tmp_path) -> dg.ExecuteInProcessResult:
    env = tmp_path / ".env"
    env.write_text("USE_VASTAI=true\n")
    resources = make_resources(
        database, vast=vast_server, actions="apply", router_env=env, restart_command=f"{sys.executable} -c pass"
    )
    return (
        code_location()
        .resolve_job_def("emergency_shutdown")
        .execute_in_process(
            run_config={"ops": {"check_current_spend": {"config": {"reason": "runaway"}}}},
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
    )


def test_an_endpoint_gone_before_its_stop_is_success(database, vast_server, instance, at, tmp_path):
    at(NOW)
    insert_costs(database, [(NOW - timedelta(hours=2), "llama-3-70b", 62.0, 40.0, False)])
    ours = vast_server.add_endpoint("llama-3-70b")
    gone = vast_server.add_endpoint("llama-3-8b")
    vast_server.script("PUT", f"/api/v0/endptjobs/{gone}/", Reply(404, {"success": False, "msg": "not found"}))
    result = emergency(database, vast_server, instance, tmp_path)
    assert result.success
    stop = result.output_for_node("stop_endpoints")
    assert stop.ok and f"llama-3-8b (id {gone}): gone meanwhile (nothing left to stop)" in stop.details
    assert vast_server.endpoints[ours]["endpoint_state"] == "stopped"


def test_one_malformed_row_does_not_stop_the_others_from_being_stopped(database, vast_server, instance, at, tmp_path):
    at(NOW)
    insert_costs(database, [(NOW - timedelta(hours=2), "llama-3-70b", 62.0, 40.0, False)])
    first = vast_server.add_endpoint("llama-3-70b")
    second = vast_server.add_endpoint("llama-2-7b")
    listed = list(vast_server.endpoints.values())
    vast_server.route(
        "GET",
        "/api/v0/endptjobs/",
        lambda call: Reply(200, {"success": True, "results": [listed[0], {"endpoint_name": "odd-one"}, listed[1]]}),
    )
    result = emergency(database, vast_server, instance, tmp_path)
    assert [vast_server.endpoints[i]["endpoint_state"] for i in (first, second)] == ["stopped", "stopped"]
    listing = result.output_for_node("list_platform_endpoints")
    assert not listing.ok and "odd-one (listed without a usable id)" in listing.error and "by hand" in listing.error
    assert not result.success  # needs action: the odd one must be stopped by hand


def test_infinite_and_nan_settings_in_vast_ais_answer_read_as_unknown_and_the_update_still_plans(database, vast_server):
    """Vast.ai's JSON may carry NaN, Infinity or 1e400: such a setting is unknown, never a crash or a huge number."""
    endpoint_id = vast_server.add_endpoint("llama-3-8b")
    vast_server.endpoints[endpoint_id].update(max_workers=float("inf"), cold_workers=float("nan"))
    vast_server.workergroups[900] = {"id": 900, "endpoint_id": endpoint_id, "search_params": "gpu_name=RTX_4090"}
    run = run_job(
        "update_worker", make_resources(database, vast=vast_server), {"endpoint": "llama-3-8b", "max_workers": 3}
    )
    assert run.result.success, run.messages
    current = run.metadata("update_worker_read")["current"]
    assert "inf" not in current.lower() and "nan" not in current.lower()
    assert [c for c in vast_server.calls if c.method == "PUT"] == []  # a dry run: nothing changed
