import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vast_pipelines.resources.vast import VastAIResource
from vast_pipelines_tests.conftest import SLACK_TOKEN, VAST_KEY, make_resources, worker_changes
from vast_pipelines_tests.fakes import LoopbackServer, Reply, VastServer, vllm_server
from vast_pipelines_tests.jobs import JobRun, run_job

MODEL = "meta-llama/Llama-3-8b"
IMAGE = "registry.gitlab.com/blueflyio/vast-ai/llama-3-8b:latest"
KEY = "VLLM_ENDPOINT_LLAMA3"  # the guide's key for llama-3-8b
ROUTER_ENV = """# agent-router settings
export OPENAI_API_KEY="sk-keep-me"
USE_VASTAI=true  # flip to false for CPU fallback
VLLM_ENDPOINT='http://vastai-gpu:8000/v1'
"""
SECRETS = (VAST_KEY, SLACK_TOKEN, "endpoint-secret", "sk-keep-me")


def deploy(resources: dict, **config) -> JobRun:
    run_config = {"model_name": MODEL, "image": IMAGE, "poll_interval_seconds": 0.01, **config}
    return run_job("deploy_model", resources, run_config)


@pytest.fixture
def worker() -> Iterator[LoopbackServer]:
    """Where the ready Vast.ai worker serves: a loopback vLLM listing the model."""
    with vllm_server(models=(MODEL,)) as server:
        yield server


@pytest.fixture
def router_env(tmp_path: Path) -> Path:
    folder = tmp_path / "router"
    folder.mkdir()
    env = folder / ".env"
    env.write_text(ROUTER_ENV)
    return env


def restart_command(tmp_path: Path) -> str:
    marker = tmp_path / "restarted"
    return f"{sys.executable} -c \"open('{marker}', 'a').write('restart\\n')\""


def resources(database, vast, slack, router_env, tmp_path, actions="apply") -> dict:
    return make_resources(
        database,
        vast=vast,
        slack=slack,
        router_env=router_env,
        restart_command=restart_command(tmp_path),
        actions=actions,
    )


def posts(vast: VastServer, path: str) -> int:
    return len(vast.calls_to(path, "POST"))


def changes_of(database, run: JobRun) -> list[tuple[str, str]]:
    return [(c["step"], c["outcome"]) for c in worker_changes(database, run.result.run_id)]


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_deploys_a_model_end_to_end(database, vast_server, slack_server, worker, router_env, tmp_path):
    vast_server.worker_url = worker.url
    vast_server.ready_after = 3
    run = deploy(resources(database, vast_server, slack_server, router_env, tmp_path))
    assert run.result.success, run.messages

    [endpoint] = vast_server.endpoints.values()
    assert endpoint["endpoint_name"] == "llama-3-8b"
    # The guide's min_workers 0 + idle_timeout 300: scale to zero (min_load 0) after 300 s; one stopped worker
    # keeps the model loaded for a quick cold start.
    assert (
        endpoint["min_load"],
        endpoint["inactivity_timeout"],
        endpoint["cold_workers"],
        endpoint["max_workers"],
    ) == (
        0.0,
        300,
        1,
        3,
    )
    [create] = vast_server.calls_to("/api/v0/endptjobs/", "POST")
    assert create.json()["client_id"] == "me" and create.json()["autoscaler_instance"] == "prod"
    assert "min_workers=0 → min_load=0" in run.metadata("deploy_create_endpoint")["translation"]
    [group] = vast_server.workergroups.values()
    assert group["endpoint_id"] == endpoint["id"]
    assert group["search_params"].split()[0] == "gpu_name=RTX_4090"
    assert f"--image {IMAGE}" in group["launch_args"] and f"MODEL_NAME={MODEL}" in group["launch_args"]

    # The bounded poll showed its progress until the third /route/ call found a ready worker.
    assert vast_server.route_calls[endpoint["id"]] == 3
    assert any("Waiting for a ready worker of llama-3-8b" in m and "loading" in m for m in run.messages)

    text = router_env.read_text()
    assert text == ROUTER_ENV + f"{KEY}={worker.url}\n"
    assert (tmp_path / "restarted").read_text() == "restart\n"
    assert worker.calls_to("/v1/models")

    [message] = slack_server.messages
    assert message["channel"] == "#platform-updates"
    assert MODEL in message["text"] and f"{KEY}={worker.url}" in message["text"] and "(restarted)" in message["text"]
    assert changes_of(database, run) == [
        ("create endpoint", "applied"),
        ("create worker group", "applied"),
        ("update the router .env", "applied"),
        ("restart agent-router", "applied"),
    ]
    notify = run.metadata("deploy_notify")
    assert notify["endpoint_id"] == endpoint["id"] and notify["endpoint_url"] == worker.url
    assert_no_secrets(message["text"], *run.messages, str(worker_changes(database, run.result.run_id)))


def test_a_second_run_reuses_the_endpoint_instead_of_creating_a_twin(
    database, vast_server, slack_server, worker, router_env, tmp_path
):
    vast_server.worker_url = worker.url
    first = deploy(resources(database, vast_server, slack_server, router_env, tmp_path))
    assert first.result.success
    after_first = router_env.read_text()
    second = deploy(resources(database, vast_server, slack_server, router_env, tmp_path))
    assert second.result.success, second.messages

    assert len(vast_server.endpoints) == 1 and len(vast_server.workergroups) == 1
    assert posts(vast_server, "/api/v0/endptjobs/") == 1 and posts(vast_server, "/api/v0/workergroups/") == 1
    assert router_env.read_text() == after_first
    assert len(list(router_env.parent.glob(".env.bak-*"))) == 1  # the second run did not need to write
    assert "existing endpoint reused" in slack_server.messages[-1]["text"]
    assert ("create endpoint", "applied") not in changes_of(database, second)


def test_a_rejected_key_says_to_check_vast_api_key_and_changes_nothing(database, slack_server, router_env, tmp_path):
    with VastServer(api_key="a-different-key") as vast:
        run = deploy(resources(database, vast, slack_server, router_env, tmp_path))
        assert not run.result.success
        assert "HTTP 401" in run.failure and "VAST_API_KEY" in run.failure
        assert "nothing was created" in run.failure
        assert [c.method for c in vast.calls] == ["GET"]
    assert router_env.read_text() == ROUTER_ENV
    assert slack_server.messages == []
    assert_no_secrets(run.failure, *run.messages)


def test_a_429_is_retried_and_creates_exactly_one_endpoint(
    database, vast_server, slack_server, worker, router_env, tmp_path
):
    vast_server.worker_url = worker.url
    vast_server.script("POST", "/api/v0/endptjobs/", Reply(429, {"success": False, "msg": "slow down"}))
    run = deploy(resources(database, vast_server, slack_server, router_env, tmp_path))
    assert run.result.success, run.messages
    assert posts(vast_server, "/api/v0/endptjobs/") == 2
    assert len(vast_server.endpoints) == 1


def test_a_worker_that_never_becomes_ready_fails_bounded_and_leaves_the_router_alone(
    database, vast_server, slack_server, router_env, tmp_path
):
    run = deploy(
        resources(database, vast_server, slack_server, router_env, tmp_path),
        ready_timeout_seconds=0.3,
        poll_interval_seconds=0.05,
    )
    assert not run.result.success
    [endpoint_id] = vast_server.endpoints
    [group_id] = vast_server.workergroups
    text = run.failure
    assert "no worker was ready within 0.3 s" in text and "1 worker: 1 loading" in text
    assert f"Vast.ai endpoint llama-3-8b (id {endpoint_id}, created by this run)" in text
    assert f"`vastai delete endpoint {endpoint_id}`" in text and f"`vastai delete workergroup {group_id}`" in text
    assert "launch deploy_model again with the same config" in text
    assert f"{KEY} not written" in text
    # Nothing half-written: same bytes, no backup, no temp file.
    assert router_env.read_text() == ROUTER_ENV
    assert sorted(p.name for p in router_env.parent.iterdir()) == [".env"]
    assert not (tmp_path / "restarted").exists()
    [message] = slack_server.messages
    assert message["channel"] == "#platform-updates" and "deploy_model stopped" in message["text"]
    assert changes_of(database, run)[-1] == ("wait for a ready worker", "failed")


def test_dry_run_prints_the_plan_and_changes_nothing(database, vast_server, slack_server, router_env, tmp_path):
    run = deploy(resources(database, vast_server, slack_server, router_env, tmp_path, actions="dry-run"))
    assert run.result.success, run.messages
    assert {c.method for c in vast_server.calls} == {"GET"}
    assert vast_server.endpoints == {} and vast_server.workergroups == {}
    assert router_env.read_text() == ROUTER_ENV
    assert not (tmp_path / "restarted").exists()
    assert slack_server.messages == []
    assert worker_changes(database, run.result.run_id) == []
    plan = run.metadata("deploy_notify")["plan"]
    assert f"POST {vast_server.url}/api/v0/endptjobs/" in plan and '"inactivity_timeout": 300' in plan
    assert f"POST {vast_server.url}/route/" in plan
    assert f"set {KEY}: (absent) →" in plan and "restart agent-router" in plan
    assert f"/v1/models lists {MODEL}" in plan
    assert "VAST_EMERGENCY_ACTIONS=apply" in plan
    assert_no_secrets(plan)


def test_dry_run_reuses_and_reports_drift_of_an_existing_endpoint(
    database, vast_server, slack_server, router_env, tmp_path
):
    endpoint_id = vast_server.add_endpoint("llama-3-8b", inactivity_timeout=120)
    vast_server.workergroups[500] = {"id": 500, "endpoint_id": endpoint_id, "launch_args": f"--image {IMAGE}"}
    run = deploy(resources(database, vast_server, slack_server, router_env, tmp_path, actions="dry-run"))
    plan = run.metadata("deploy_notify")["plan"]
    assert f"reuse endpoint llama-3-8b (id {endpoint_id})" in plan and "reuse worker group(s) 500" in plan
    assert "inactivity_timeout 120 s (config: 300), search_params unknown (config: gpu_name=RTX_4090 " in plan
    assert 'launch update_worker with {"endpoint": "llama-3-8b", "inactivity_timeout": 300' in plan
    link = run.metadata("deploy_create_endpoint")["update_worker"]
    assert "/jobs/update_worker/playground/setup?config=" in link and "inactivity_timeout: 300" in link


def test_apply_refuses_before_creating_anything_when_the_router_file_is_not_set(
    database, vast_server, slack_server, tmp_path
):
    run = deploy(resources(database, vast_server, slack_server, None, tmp_path))
    assert not run.result.success
    assert "AGENT_ROUTER_ENV_FILE is not set" in run.failure and "Nothing was created" in run.failure
    assert vast_server.endpoints == {}


def test_invalid_config_is_refused_with_every_reason(database, vast_server, slack_server, router_env, tmp_path):
    run = deploy(
        resources(database, vast_server, slack_server, router_env, tmp_path),
        template_hash="abc123",
        max_workers=0,
        gpu_type="RTX 4090",
    )
    assert not run.result.success
    text = run.failure
    assert "exactly one of image" in text and "max_workers must be at least 1" in text and "gpu_type" in text
    assert vast_server.calls == []


def test_a_worker_serving_another_model_fails_verification_with_undo_steps(
    database, vast_server, slack_server, router_env, tmp_path
):
    with vllm_server(models=("llama-2-7b",)) as wrong:
        vast_server.worker_url = wrong.url
        run = deploy(resources(database, vast_server, slack_server, router_env, tmp_path))
    assert not run.result.success
    text = run.failure
    assert f"lists llama-2-7b, not {MODEL}" in text
    [backup] = router_env.parent.glob(".env.bak-*")
    assert backup.read_text() == ROUTER_ENV
    assert f"`cp {backup} {router_env}`" in text
    assert "agent-router: restarted." in text


def test_a_failed_worker_group_creation_names_the_endpoint_left_behind(
    database, vast_server, slack_server, router_env, tmp_path
):
    vast_server.script("POST", "/api/v0/workergroups/", Reply(400, {"success": False, "msg": "no such template"}))
    run = deploy(resources(database, vast_server, slack_server, router_env, tmp_path))
    [endpoint_id] = vast_server.endpoints
    assert "no such template" in run.failure
    assert (
        f"`vastai delete endpoint {endpoint_id}`" in run.failure and "workergroup" not in run.failure.split("undo")[1]
    )


def test_endpoint_url_overrides_the_worker_url_and_vast_endpoints_is_checked(
    database, vast_server, slack_server, worker, router_env, tmp_path
):
    vast_server.worker_url = "http://127.0.0.1:9/not-used"
    res = resources(database, vast_server, slack_server, router_env, tmp_path)
    res["vast"] = VastAIResource(
        api_url=vast_server.url, autoscaler_url=vast_server.url, api_key=VAST_KEY, endpoint_names="qwen-7b"
    )
    run = deploy(res, endpoint_url=worker.url + "/", router_env_key="VLLM_ENDPOINT_LLAMA3")
    assert run.result.success, run.messages
    assert f"VLLM_ENDPOINT_LLAMA3={worker.url}\n" in router_env.read_text()
    assert "VAST_ENDPOINTS (qwen-7b) does not name llama-3-8b" in slack_server.messages[-1]["text"]


def test_a_stopped_endpoint_is_not_deployed_into(database, vast_server, slack_server, router_env, tmp_path):
    endpoint_id = vast_server.add_endpoint("llama-3-8b", state="stopped")
    run = deploy(resources(database, vast_server, slack_server, router_env, tmp_path))
    assert not run.result.success
    assert f"(id {endpoint_id}) exists but is stopped" in run.failure and "restore_service" in run.failure
    assert vast_server.workergroups == {} and {c.method for c in vast_server.calls} == {"GET"}


def test_dry_run_without_a_vast_key_still_prints_the_plan(database, slack_server, router_env, tmp_path):
    run = deploy(resources(database, None, slack_server, router_env, tmp_path, actions="dry-run"))
    assert run.result.success
    plan = run.metadata("deploy_notify")["plan"]
    assert "apply would stop here, the account could not be read: VAST_API_KEY is not set" in plan
    assert "create the endpoint: POST" in plan
