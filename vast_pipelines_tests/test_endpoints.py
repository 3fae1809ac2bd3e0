import socket

import httpx

from vast_pipelines.domain.health import Failure
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.http import classify_transport_error
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
    v, o = res.check_vllm(sleep=waits.append), res.check_ollama(sleep=waits.append)
    assert (v.label, v.models, v.attempts) == ("ONLINE", ("llama-2-7b",), 1)
    assert (o.label, o.models) == ("ONLINE", ("llama2:7b",))
    assert v.latency_ms is not None and v.latency_ms > 0
    assert [c.path for c in vllm.calls] == ["/health", "/v1/models"]
    assert waits == []


def test_offline_waits_for_a_cold_start_once_then_reports_down():
    waits: list[float] = []
    status = endpoints(closed_port_url()).check_vllm(sleep=waits.append)
    assert waits == [30.0]
    assert (status.label, status.failure, status.attempts) == ("OFFLINE", Failure.REFUSED, 2)
    assert any("truly down" in a for a in status.actions)


def test_cold_start_that_comes_up_during_the_wait_is_online():
    url = closed_port_url()
    port = int(url.rsplit(":", 1)[1])
    started = []

    def worker_scales_up(seconds: float) -> None:
        started.append(vllm_server(port=port))  # the worker comes up while we wait

    try:
        status = endpoints(url).check_vllm(sleep=worker_scales_up)
        assert (status.label, status.attempts, status.models) == ("ONLINE", 2, ("llama-2-7b",))
    finally:
        for server in started:
            server.stop()


def test_timeout_counts_as_a_possible_cold_start():
    with LoopbackServer() as slow:
        slow.route("GET", "/health", Reply(200, "", delay=1.0))
        waits: list[float] = []
        status = endpoints(slow.url, timeout=0.2).check_vllm(sleep=waits.append)
    assert status.failure is Failure.TIMEOUT and waits == [30.0]


def test_http_500_is_offline_without_a_cold_start_wait():
    with LoopbackServer() as broken:
        broken.route("GET", "/health", Reply(500, "Internal Server Error"))
        waits: list[float] = []
        status = endpoints(broken.url).check_vllm(sleep=waits.append)
    assert (status.label, status.failure, waits) == ("OFFLINE", Failure.HTTP_ERROR, [])
    assert "HTTP 500" in status.detail


def test_malformed_json_is_offline_with_a_clear_reason():
    with LoopbackServer() as odd:
        odd.route("GET", "/api/tags", Reply(200, "<html>not json</html>"))
        status = endpoints(closed_port_url(), odd.url).check_ollama(sleep=lambda s: None)
    assert status.failure is Failure.BAD_RESPONSE and "did not return JSON" in status.detail


def test_json_without_a_model_list_is_a_bad_response():
    with LoopbackServer() as odd:
        odd.route("GET", "/health", Reply(200, ""))
        odd.route("GET", "/v1/models", Reply(200, {"object": "list"}))
        status = endpoints(odd.url).check_vllm(sleep=lambda s: None)
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
    v, o = res.check_all(sleep=waits.append)
    assert waits == [30.0]
    assert (v.attempts, o.attempts) == (2, 2)
    online_v, down_o = endpoints(vllm.url, closed_port_url()).check_all(sleep=waits.append)
    assert (online_v.attempts, down_o.attempts) == (1, 2) and waits == [30.0, 30.0]
