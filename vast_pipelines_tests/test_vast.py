import pytest

from vast_pipelines.errors import NotConfigured
from vast_pipelines.resources.vast import VastAIError, VastAIResource
from vast_pipelines_tests.conftest import VAST_KEY, closed_port_url
from vast_pipelines_tests.fakes import Reply


def client(server, key: str | None = VAST_KEY, **kw) -> VastAIResource:
    return VastAIResource(api_url=server.url, autoscaler_url=server.url, api_key=key, first_backoff_seconds=0.01, **kw)


def test_lists_endpoints_without_their_api_keys(vast_server):
    endpoint_id = vast_server.add_endpoint("llama-3-8b", workers=[{"id": 7, "status": "running", "cur_load": 0.5}])
    vast = client(vast_server)
    [endpoint] = vast.list_endpoints()
    assert (endpoint.id, endpoint.name, endpoint.state, endpoint.inactivity_timeout) == (
        endpoint_id,
        "llama-3-8b",
        "active",
        300,
    )
    assert "api_key" not in endpoint.raw and "endpoint-secret" not in repr(endpoint)
    [worker] = vast.endpoint_workers(endpoint_id)
    assert (worker.id, worker.status, worker.cur_load) == (7, "running", 0.5)
    assert vast_server.calls[0].headers["authorization"] == f"Bearer {VAST_KEY}"
    assert vast_server.calls_to("/get_endpoint_workers/")[0].json() == {"id": endpoint_id}
    # Listing sends the official client's JSON body with the GET.
    assert vast_server.calls_to("/api/v0/endptjobs/")[0].json() == {"client_id": "me", "api_key": VAST_KEY}


def test_platform_endpoints_are_those_named_in_vast_endpoints(vast_server):
    vast_server.add_endpoint("ours")
    vast_server.add_endpoint("someone-elses")
    assert [e.name for e in client(vast_server, endpoint_names="ours, other").platform_endpoints()] == ["ours"]
    assert len(client(vast_server).platform_endpoints()) == 2


def test_401_says_to_check_the_key_and_never_shows_it(vast_server):
    with pytest.raises(VastAIError) as err:
        client(vast_server, key="wrong-key-SECRET").list_endpoints()
    assert err.value.status == 401
    assert "VAST_API_KEY" in str(err.value)
    assert "wrong-key-SECRET" not in str(err.value)


def test_429_is_retried_with_backoff_then_succeeds(vast_server):
    vast_server.add_endpoint("llama-3-8b")
    vast_server.script("GET", "/api/v0/endptjobs/", Reply(429, {"success": False, "msg": "slow down"}))
    vast = client(vast_server)
    sleeps: list[float] = []
    vast._sleep = sleeps.append
    assert [e.name for e in vast.list_endpoints()] == ["llama-3-8b"]
    assert sleeps == [0.01]
    assert len(vast_server.calls_to("/api/v0/endptjobs/")) == 2


def test_persistent_5xx_gives_up_after_the_bounded_attempts(vast_server):
    vast_server.script("GET", "/api/v0/endptjobs/", *[Reply(503, "unavailable")] * 3)
    vast = client(vast_server, max_attempts=3)
    vast._sleep = lambda s: None
    with pytest.raises(VastAIError, match="HTTP 503 after 3 attempts"):
        vast.list_endpoints()
    assert len(vast_server.calls) == 3


def test_success_false_with_http_200_is_an_error(vast_server):
    vast_server.script("GET", "/api/v0/endptjobs/", Reply(200, {"success": False, "msg": "account suspended"}))
    with pytest.raises(VastAIError, match="account suspended"):
        client(vast_server).list_endpoints()


def test_html_instead_of_json_is_named(vast_server):
    vast_server.script("GET", "/api/v0/endptjobs/", Reply(200, "<html>maintenance</html>"))
    with pytest.raises(VastAIError, match="non-JSON"):
        client(vast_server).list_endpoints()


def test_missing_key_refuses_without_calling(vast_server):
    with pytest.raises(NotConfigured, match="VAST_API_KEY is not set"):
        client(vast_server, key=None).list_endpoints()
    assert vast_server.calls == []


def test_unreachable_api_names_the_setting():
    vast = VastAIResource(api_url=closed_port_url(), api_key=VAST_KEY, max_attempts=2, first_backoff_seconds=0.01)
    with pytest.raises(VastAIError, match="VAST_API_URL") as err:
        vast.list_endpoints()
    assert VAST_KEY not in str(err.value)


def test_stop_resume_and_delete_are_idempotent(vast_server):
    endpoint_id = vast_server.add_endpoint("llama-3-8b")
    vast = client(vast_server)
    vast.set_endpoint_state(endpoint_id, "stopped")
    assert vast_server.endpoints[endpoint_id]["endpoint_state"] == "stopped"
    assert vast.find_endpoint("llama-3-8b").state == "stopped"
    vast.set_endpoint_state(endpoint_id, "active")
    assert vast.find_endpoint(endpoint_id).state == "active"
    assert vast.delete_endpoint(endpoint_id) is True
    assert vast.delete_endpoint(endpoint_id) is False  # already gone is success
    assert vast.find_endpoint("llama-3-8b") is None


def test_create_endpoint_and_worker_group(vast_server):
    vast = client(vast_server)
    endpoint_id = vast.create_endpoint({"endpoint_name": "llama-3-8b", "max_workers": 3, "cold_workers": 0})
    group_id = vast.create_workergroup(
        {
            "endpoint_id": endpoint_id,
            "launch_args": "--image vllm/vllm-openai:latest",
            "search_params": "gpu_name=RTX_4090",
        }
    )
    assert vast_server.workergroups[group_id]["endpoint_id"] == endpoint_id
    assert [g["id"] for g in vast.list_workergroups()] == [group_id]
    assert vast.describe_call("PUT", f"/api/v0/endptjobs/{endpoint_id}/", {"endpoint_state": "stopped"}).startswith(
        f"PUT {vast_server.url}/api/v0/endptjobs/{endpoint_id}/ "
    )


def test_route_waits_then_returns_the_ready_workers_url_using_the_endpoints_own_key(vast_server):
    vast = client(vast_server)
    endpoint_id = vast.create_endpoint({"endpoint_name": "llama-3-8b", "max_workers": 3})
    vast.create_workergroup({"endpoint_id": endpoint_id, "search_params": "gpu_name=RTX_4090"})
    vast_server.worker_url, vast_server.ready_after = "http://127.0.0.1:1/worker/", 2
    waiting = vast.route("llama-3-8b")
    assert (waiting.url, waiting.status) == (None, "no ready workers")
    assert [w.status for w in vast.endpoint_workers(endpoint_id)] == ["loading"]
    ready = vast.route("llama-3-8b", request_idx=waiting.request_idx)
    assert ready.url == "http://127.0.0.1:1/worker" and ready.request_idx == waiting.request_idx
    [first, second] = vast_server.calls_to("/route/")
    assert first.headers["authorization"] == f"Bearer endpoint-secret-{endpoint_id}"
    assert second.json()["request_idx"] == waiting.request_idx
    assert "endpoint-secret" not in repr(ready) + repr(waiting)
    assert [g["id"] for g in vast.endpoint_workergroups(endpoint_id)] == list(vast_server.workergroups)
    assert vast.endpoint_workergroups(endpoint_id + 1000) == []


def test_route_to_an_unknown_endpoint_names_it_without_a_call(vast_server):
    with pytest.raises(VastAIError, match="no endpoint named 'nope'"):
        client(vast_server).route("nope")
    assert vast_server.calls_to("/route/") == []


def test_daily_charges_are_summed_per_day_for_serverless_only(vast_server):
    from datetime import date

    vast_server.add_charge(date(2026, 11, 20), 4.25, endpoint_id=101)
    vast_server.add_charge(date(2026, 11, 20), 0.75, endpoint_id=102)
    vast_server.add_charge(date(2026, 11, 21), 3.0)
    vast_server.add_charge(date(2026, 11, 21), 9.0, kind="volume")
    vast_server.add_charge(date(2026, 11, 22), 7.0)  # the end day is not asked for
    charges = client(vast_server).daily_charges(date(2026, 11, 20), date(2026, 11, 22))
    assert charges == {date(2026, 11, 20): 5.0, date(2026, 11, 21): 3.0}
    # One query per UTC day (a row is a contract's charges over the asked days), as the official client asks:
    # select_filters on day and type, JSON-encoded, a page of 100.
    first, second = vast_server.calls_to("/api/v0/charges/")
    assert first.query["select_filters"] == [
        '{"day": {"gte": 1795132800, "lte": 1795219199}, "type": {"in": ["serverless"]}}'
    ]
    assert second.query["select_filters"] == [
        '{"day": {"gte": 1795219200, "lte": 1795305599}, "type": {"in": ["serverless"]}}'
    ]
    call = first
    assert (call.query["limit"], call.query["latest_first"], call.query["format"]) == (["100"], ["false"], ["table"])
    assert call.raw == b""


@pytest.mark.faults
def test_a_worker_list_error_is_an_error_not_an_empty_list(vast_server):
    endpoint_id = vast_server.add_endpoint("x")
    vast_server.script("POST", "/get_endpoint_workers/", Reply(200, {"error_msg": "endpoint not ready"}))
    with pytest.raises(VastAIError, match="answered an error: endpoint not ready"):
        client(vast_server).endpoint_workers(endpoint_id)
    vast_server.script("POST", "/get_endpoint_workers/", Reply(200, {"success": True, "results": []}))
    with pytest.raises(VastAIError, match="an object with results, success, not a worker list"):
        client(vast_server).endpoint_workers(endpoint_id)
