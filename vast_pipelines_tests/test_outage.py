from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from vast_pipelines_tests.conftest import closed_port_url, evaluate_sensor, launch, make_resources
from vast_pipelines_tests.fakes import Reply, vllm_server

NOW = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def check(resources: dict, instance) -> str:
    """One tick of endpoint_down_sensor and the endpoint_check run it requests; what the check found."""
    tick = evaluate_sensor("endpoint_down_sensor", resources, instance)
    [request] = tick.run_requests  # the tick only decides a check is due
    assert request.run_key.startswith("endpoint-check:")
    [result] = launch(tick, resources, instance, "endpoint_check")
    assert result.success
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return output.event_specific_data.metadata["summary"].value


def outages(database) -> list[tuple[str, str]]:
    with database.begin() as conn:
        rows = conn.execute(sa.text("SELECT subject, status FROM vast_pipelines.incidents WHERE kind = 'service_down'"))
        return [tuple(r) for r in rows]


def test_vllm_down_for_two_checks_opens_one_incident_and_recovery_closes_it(
    database, instance, at, vast_server, slack_server, smtp_server, tailscale_cli, ollama
):
    vllm_url = closed_port_url()  # nothing listens: refused, then refused again after the cold-start wait
    vast_server.add_endpoint("llama-3-70b", workers=[{"id": 7, "status": "loading", "cur_load": 0}])
    resources = make_resources(
        database,
        vllm_url=vllm_url,
        ollama_url=ollama.url,
        vast=vast_server,
        slack=slack_server,
        smtp=smtp_server,
        tailscale=tailscale_cli,
    )
    ticks = []
    for minutes in (0, 5, 10, 15):  # down for four checks
        at(NOW + timedelta(minutes=minutes))
        ticks.append(check(resources, instance))
    assert "vLLM OFFLINE after 2 attempt(s)" in ticks[0] and "outage" not in ticks[0]
    assert "opened outage #1" in ticks[1]
    assert "outage #1 still open (announced once)" in ticks[3]
    assert sorted(m["channel"] for m in slack_server.messages) == ["#incidents", "#platform-alerts"]
    text = slack_server.messages[0]["text"]
    assert "*vLLM is down*" in text and "2 checks in a row failed" in text and "connection refused" in text
    assert "Tailscale: active (vastai-gpu is online)" in text and "7: loading" in text
    assert "agent-router falls back to NAS CPU" in text and "<!subteam^S0PLATFORMOPS>" in text
    assert len(smtp_server.messages) == 1 and "vLLM down (incident #1)" in str(smtp_server.messages[0]["Subject"])
    assert outages(database) == [("vLLM", "open")]

    with vllm_server(port=int(vllm_url.rsplit(":", 1)[1])):
        at(NOW + timedelta(minutes=20))
        back = check(resources, instance)
        at(NOW + timedelta(minutes=25))
        still_up = check(resources, instance)
    assert "closed outage #1" in back
    assert still_up == "vLLM ONLINE after 1 attempt(s); Ollama ONLINE after 1 attempt(s)"
    recovered = [m for m in slack_server.messages if "is back" in m["text"]]
    assert sorted(m["channel"] for m in recovered) == ["#incidents", "#platform-alerts"]
    assert "resolved after 20 min" in recovered[0]["text"] and "llama-2-7b" in recovered[0]["text"]
    assert len(slack_server.messages) == 4 and len(smtp_server.messages) == 2
    assert outages(database) == [("vLLM", "resolved")]
    with database.begin() as conn:
        probes = (
            conn.execute(
                sa.text("SELECT online FROM vast_pipelines.endpoint_probes WHERE endpoint = 'vLLM' ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert probes == [False, False, False, False, True, True]


def test_one_failed_check_between_good_ones_is_not_an_outage(database, instance, at, vllm, ollama, slack_server):
    at(NOW)
    resources = make_resources(
        database, vllm_url=vllm.url, ollama_url=ollama.url, slack=slack_server, thresholds="outage_checks=2"
    )
    vllm.script("GET", "/health", Reply(503, "warming up"))  # answers, wrongly: no cold-start retry
    blip = check(resources, instance)
    fine = check(resources, instance)
    assert "vLLM OFFLINE after 1 attempt(s)" in blip and "ONLINE" in fine
    assert slack_server.messages == [] and outages(database) == []


def test_an_outage_is_claimed_once_in_the_database(database):
    first = database.incidents.open_outage(endpoint="vLLM", summary="down", figures={}, context={})
    assert first is not None
    assert database.incidents.open_outage(endpoint="vLLM", summary="down", figures={}, context={}) is None
    assert database.incidents.close_outage(endpoint="vLLM", state={})["id"] == first
    assert database.incidents.close_outage(endpoint="vLLM", state={}) is None


@pytest.mark.faults
def test_ollama_is_watched_like_vllm_each_endpoint_its_own_incident(
    database, instance, at, vllm, slack_server, smtp_server
):
    ollama_url = closed_port_url()
    resources = make_resources(database, vllm_url=vllm.url, ollama_url=ollama_url, slack=slack_server, smtp=smtp_server)
    for minutes in (0, 5, 10):
        at(NOW + timedelta(minutes=minutes))
        tick = check(resources, instance)
    assert "Ollama OFFLINE" in tick and "vLLM ONLINE" in tick
    assert outages(database) == [("Ollama", "open")]  # vLLM up: no incident of its own
    assert sorted(m["channel"] for m in slack_server.messages) == ["#incidents", "#platform-alerts"]  # once
    assert "*Ollama is down*" in slack_server.messages[0]["text"] and len(smtp_server.messages) == 1
    resources = make_resources(database, ollama_url=ollama_url, slack=slack_server, smtp=smtp_server)  # vLLM down too
    for minutes in (15, 20):
        at(NOW + timedelta(minutes=minutes))
        check(resources, instance)
    assert sorted(outages(database)) == [("Ollama", "open"), ("vLLM", "open")]  # two incidents, one per endpoint
    assert len(slack_server.messages) == 4 and len(smtp_server.messages) == 2  # each announced once
