import socket

import httpx

from vast_pipelines.connect.http import classify_transport_error
from vast_pipelines.defs.probes import check_endpoint, check_endpoints
from vast_pipelines.domain.health import Failure
from vast_pipelines.reports.health import offline_actions, status_label
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines_tests.conftest import closed_port_url
from vast_pipelines_tests.fakes import LoopbackServer, Reply, vllm_server


def endpoints(vllm_url: str, ollama_url: str | None = None, timeout: float = 2.0) -> InferenceEndpoints:
    return InferenceEndpoints(
        vllm_url=vllm_url,
        ollama_url=ollama_url or closed_port_url(),
        timeout_seconds=timeout,
        cold_start_wait_seconds=30.0,
    )


def test_online_endpoints_list_their_models(vllm, ollama):
    waits: list[float] = []
    res = endpoints(f"{vllm.url}/v1", ollama.url)  # the guide writes vLLM's endpoint with /v1
    v, o = check_endpoint(res, "vLLM", sleep=waits.append), check_endpoint(res, "Ollama", sleep=waits.append)
    assert (status_label(v), v.models, v.attempts) == ("ONLINE", ("llama-2-7b",), 1)
    assert (status_label(o), o.models) == ("ONLINE", ("llama2:7b",))
    assert v.latency_ms is not None and v.latency_ms > 0
    assert [c.path for c in vllm.calls] == ["/health", "/v1/models"]
    assert waits == []


def test_offline_waits_for_a_cold_start_once_then_reports_down():
    waits: list[float] = []
    status = check_endpoint(endpoints(closed_port_url()), "vLLM", sleep=waits.append)
    assert waits == [30.0]
    assert (status_label(status), status.failure, status.attempts) == ("OFFLINE", Failure.REFUSED, 2)
    assert any("truly down" in a for a in offline_actions(status))


def test_cold_start_that_comes_up_during_the_wait_is_online():
    url = closed_port_url()
    port = int(url.rsplit(":", 1)[1])
    started = []

    def worker_scales_up(seconds: float) -> None:
        started.append(vllm_server(port=port))  # the worker comes up while we wait

    try:
        status = check_endpoint(endpoints(url), "vLLM", sleep=worker_scales_up)
        assert (status_label(status), status.attempts, status.models) == ("ONLINE", 2, ("llama-2-7b",))
    finally:
        for server in started:
            server.stop()


def test_timeout_counts_as_a_possible_cold_start():
    with LoopbackServer() as slow:
        slow.route("GET", "/health", Reply(200, "", delay=1.0))
        waits: list[float] = []
        status = check_endpoint(endpoints(slow.url, timeout=0.2), "vLLM", sleep=waits.append)
    assert status.failure is Failure.TIMEOUT and waits == [30.0]


def test_http_500_is_offline_without_a_cold_start_wait():
    with LoopbackServer() as broken:
        broken.route("GET", "/health", Reply(500, "Internal Server Error"))
        waits: list[float] = []
        status = check_endpoint(endpoints(broken.url), "vLLM", sleep=waits.append)
    assert (status_label(status), status.failure, waits) == ("OFFLINE", Failure.HTTP_ERROR, [])
    assert "HTTP 500" in status.detail


def test_malformed_json_is_offline_with_a_clear_reason():
    with LoopbackServer() as odd:
        odd.route("GET", "/api/tags", Reply(200, "<html>not json</html>"))
        status = check_endpoint(endpoints(closed_port_url(), odd.url), "Ollama", sleep=lambda s: None)
    assert status.failure is Failure.BAD_RESPONSE and "did not return JSON" in status.detail


def test_json_without_a_model_list_is_a_bad_response():
    with LoopbackServer() as odd:
        odd.route("GET", "/health", Reply(200, ""))
        odd.route("GET", "/v1/models", Reply(200, {"object": "list"}))
        status = check_endpoint(endpoints(odd.url), "vLLM", sleep=lambda s: None)
    assert status.failure is Failure.BAD_RESPONSE


def test_unresolvable_host_is_classified_as_dns_not_cold_start():
    try:
        raise httpx.ConnectError("[Errno -2] Name or service not known") from socket.gaierror(
            -2, "Name or service not known"
        )
    except httpx.ConnectError as exc:
        assert classify_transport_error(exc) is Failure.DNS
    assert classify_transport_error(httpx.ConnectError("[Errno 111] Connection refused")) is Failure.REFUSED
    assert classify_transport_error(httpx.ReadTimeout("timed out")) is Failure.TIMEOUT


def test_both_endpoints_share_one_cold_start_wait(vllm):
    waits: list[float] = []
    res = endpoints(closed_port_url(), closed_port_url())
    v, o = check_endpoints(res, sleep=waits.append)
    assert waits == [30.0]
    assert (v.attempts, o.attempts) == (2, 2)
    online_v, down_o = check_endpoints(endpoints(vllm.url, closed_port_url()), sleep=waits.append)
    assert (online_v.attempts, down_o.attempts) == (1, 2) and waits == [30.0, 30.0]
