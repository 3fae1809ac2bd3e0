"""The code location as an operator meets it: `dagster dev` (webserver + daemon), GraphQL, and a browser."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from vast_pipelines_tests.conftest import REPO, closed_port_url, dagster_process, loopback_environment

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not come up within {seconds}s")


# libfaketime (Debian's `faketime`) fakes CLOCK_MONOTONIC too: Python's timed waits (threading.Event.wait(1))
# then never return, and with FAKETIME_DONT_FAKE_MONOTONIC=1 time.sleep() fails with EINVAL instead. The
# daemon's threads wait on events between iterations, so under a moved clock it ticks once and then stalls, and
# a queued run is never dequeued. Nothing in the project can change that; the rest of the suite runs there.
MOVED_CLOCK = "faketime" in os.environ.get("LD_PRELOAD", "")


@pytest.fixture
def dagster_dev(tmp_path, embedded_home, database, fresh_database_url, vllm, ollama, vast_server, slack_server):
    """`dagster dev` on loopback with an analytics database given by TIMESCALE_URL (the embedded demo database
    never posts to Slack) and every outside system on loopback fakes."""
    if MOVED_CLOCK:
        pytest.skip(
            "the clock is moved by libfaketime: it fakes CLOCK_MONOTONIC, so the Dagster daemon's timed waits never "
            "return and a queued run stays QUEUED (outside this project); run this test on the real clock"
        )
    port = int(closed_port_url().rsplit(":", 1)[1])
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "VAST_PIPELINES_HOME": str(embedded_home),
        "TIMESCALE_URL": fresh_database_url,
        **loopback_environment(vllm=vllm, ollama=ollama, vast=vast_server, slack=slack_server),
    }
    command = ["dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")]
    with dagster_process(command, env, tmp_path / "dagster-dev.log"):
        _wait_for(f"http://127.0.0.1:{port}/server_info", 120)
        yield port


def _failure_events(port: int, run_id: str) -> str:
    """The run's error messages, so a failed UI run says why."""
    query = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
        __typename ... on MessageEvent { message } ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { error { message } } } } } }"""
    body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": {"id": run_id}}).json()
    events = body["data"]["logsForRun"].get("events", [])
    return "\n".join(
        f"{e['__typename']}: {(e.get('error') or {}).get('message') or e.get('message')}"
        for e in events
        if "Failure" in e["__typename"] or "ERROR" in str(e.get("message", ""))
    )


def _render(url: str, screenshot: Path) -> str:
    """Load ``url`` in headless Chromium, save a screenshot, return the rendered DOM."""
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={screenshot.parent / ('profile-' + screenshot.stem)}",
        "--window-size=1400,1000",
        "--virtual-time-budget=20000",
    ]
    subprocess.run([*flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=False)
    done = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=False)
    return done.stdout


def test_operator_launches_the_health_check_from_dagster_dev(dagster_dev, slack_server):
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev)
    run_id = client.submit_job_execution("daily_health_check")
    deadline = time.monotonic() + 240
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", _failure_events(dagster_dev, run_id)
    assert any("=== Vast.ai Health Check" in m["text"] for m in slack_server.messages)

    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): UI rendering not checked")
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{dagster_dev}"
    graph = _render(f"{base}/locations/vast_pipelines.definitions/asset-groups/health", ARTIFACTS / "asset-graph.png")
    for name in ("endpoint_health", "yesterday_spend", "health_check_report"):
        assert name in graph
    checks = _render(f"{base}/assets/endpoint_health?view=checks", ARTIFACTS / "endpoint-health-checks.png")
    assert "vllm_online" in checks and "ollama_online" in checks
    report = _render(f"{base}/assets/health_check_report", ARTIFACTS / "health-check-report.png")
    assert "Vast.ai Health Check" in report
    run = _render(f"{base}/runs/{run_id}", ARTIFACTS / "run.png")
    assert "daily_health_check" in run
