import pytest

from vast_pipelines.policy.update_worker import update_worker_run_config
from vast_pipelines.policy.worker_settings import WorkerSettings, from_vast
from vast_pipelines_tests.conftest import SLACK_TOKEN, VAST_KEY, make_resources, worker_changes
from vast_pipelines_tests.fakes import Reply
from vast_pipelines_tests.jobs import JobRun, run_job


def update(resources: dict, run_config: dict) -> JobRun:
    return run_job("update_worker", resources, run_config)


@pytest.fixture
def worker(vast_server) -> tuple[int, int]:
    """An endpoint deployed with the guide's settings and its RTX 4090 worker group."""
    endpoint_id = vast_server.add_endpoint("llama-3-8b")
    group_id = 900
    vast_server.workergroups[group_id] = {
        "id": group_id,
        "endpoint_id": endpoint_id,
        "search_params": "gpu_ram>=23 gpu_name=RTX_4090 verified=True",
    }
    return endpoint_id, group_id


CALL_KEYS = ("client_id", "endptjob_id", "autojob_id", "autoscaler_instance")


def puts(vast_server) -> list[tuple[str, dict]]:
    """The PUTs with the fields they set (the official client's bodies carry every field, unset ones null)."""
    return [
        (c.path, {k: v for k, v in c.json().items() if v is not None and k not in CALL_KEYS})
        for c in vast_server.calls
        if c.method == "PUT"
    ]


def test_applies_only_the_changed_fields_and_reports_before_and_after(database, vast_server, slack_server, worker):
    endpoint_id, group_id = worker
    run = update(
        make_resources(database, vast=vast_server, slack=slack_server, actions="apply"),
        {"endpoint": "llama-3-8b", "idle_timeout": 600, "max_workers": 3, "gpu_type": "RTX_A6000"},
    )
    assert run.result.success, run.messages
    old_query, new_query = "gpu_ram>=23 gpu_name=RTX_4090 verified=True", "gpu_ram>=23 gpu_name=RTX_A6000 verified=True"
    assert puts(vast_server) == [
        (f"/api/v0/endptjobs/{endpoint_id}/", {"inactivity_timeout": 600}),
        (f"/api/v0/workergroups/{group_id}/", {"search_params": new_query, "endpoint_id": endpoint_id}),
    ]
    translation = run.metadata("update_worker_read")["translation"]
    assert "idle_timeout=600 → inactivity_timeout=600 s" in translation and "gpu_type=RTX_A6000 →" in translation
    current = run.metadata("update_worker_read")["current"]
    assert "| inactivity_timeout | " in current and f"| {old_query} |" in current
    report = run.metadata("update_worker_confirm")["report"]
    assert "active workers | 300 s | **600 s** |" in report
    assert f"GPU offer query | {old_query} | **{new_query}** |" in report
    assert "| max_workers | most workers, active and stopped | 3 | 3 |" in report
    [message] = slack_server.messages
    assert message["channel"] == "#platform-updates"
    assert f"inactivity_timeout 300 s → 600 s; search_params {old_query} → {new_query}" in message["text"]
    changes = worker_changes(database, run.result.run_id)
    assert [(c["step"], c["before"], c["after"]) for c in changes] == [
        ("update endpoint", {"inactivity_timeout": 300}, {"inactivity_timeout": 600}),
        ("update worker group", {"search_params": old_query}, {"search_params": new_query, "endpoint_id": endpoint_id}),
    ]
    for secret in (VAST_KEY, SLACK_TOKEN, "endpoint-secret"):
        assert secret not in message["text"] and all(secret not in m for m in run.messages)


def test_an_endpoint_can_be_named_by_id(database, vast_server, worker):
    endpoint_id, _ = worker
    run = update(
        make_resources(database, vast=vast_server, actions="apply"), {"endpoint": str(endpoint_id), "min_workers": 1}
    )
    assert run.result.success
    # Warm means active: min_load above zero; cold_workers (stopped workers) is left alone.
    assert vast_server.endpoints[endpoint_id]["min_load"] == 1.0
    assert vast_server.endpoints[endpoint_id]["cold_workers"] == 0


def test_min_workers_is_sized_from_the_measured_perf_and_shown_before_the_change(database, vast_server, worker):
    endpoint_id, _ = worker
    vast_server.workers[endpoint_id] = [
        {"id": 7, "status": "idle", "measured_perf": 245.0},
        {"id": 8, "status": "stopped", "measured_perf": 180.0},
    ]
    run = update(
        make_resources(database, vast=vast_server, actions="apply"), {"endpoint": "llama-3-8b", "min_workers": 2}
    )
    assert run.result.success, run.messages
    assert puts(vast_server) == [(f"/api/v0/endptjobs/{endpoint_id}/", {"min_load": 490.0})]
    shown = "min_workers=2 → min_load=490: keep 2 worker(s) active (2 × measured perf 245 perf units/s)"
    assert shown in run.metadata("update_worker_read")["translation"]
    first_shown = next(i for i, m in enumerate(run.messages) if shown in m)
    first_put = next(i for i, m in enumerate(run.messages) if m.startswith("PUT /api/v0/endptjobs/"))
    assert first_shown < first_put


def test_scale_to_zero_is_min_load_zero_with_an_inactivity_timeout(database, vast_server, worker):
    endpoint_id, _ = worker
    vast_server.endpoints[endpoint_id].update(min_load=245.0, cold_workers=2)
    run = update(
        make_resources(database, vast=vast_server, actions="apply"),
        {"endpoint": "llama-3-8b", "min_workers": 0, "idle_timeout": 600},
    )
    assert run.result.success, run.messages
    assert puts(vast_server) == [(f"/api/v0/endptjobs/{endpoint_id}/", {"min_load": 0.0, "inactivity_timeout": 600})]
    assert vast_server.endpoints[endpoint_id]["cold_workers"] == 2
    run = update(
        make_resources(database, vast=vast_server, actions="apply"),
        {"endpoint": "llama-3-8b", "min_workers": 0, "min_load": 5},
    )
    assert "min_load=5.0 and the guide's min_workers (→ min_load=0.0) disagree" in run.failure


def test_no_change_shows_the_settings_and_calls_nothing(database, vast_server, slack_server, worker):
    run = update(
        make_resources(database, vast=vast_server, slack=slack_server, actions="apply"),
        {"endpoint": "llama-3-8b", "idle_timeout": 300, "gpu_type": "RTX_4090"},
    )
    assert run.result.success
    assert puts(vast_server) == []
    assert slack_server.messages == []
    assert run.metadata("update_worker_read")["changes"] == 0
    assert any("already as asked, nothing to change" in m for m in run.messages)
    assert worker_changes(database, run.result.run_id) == []


def test_an_unknown_endpoint_is_refused_with_the_known_ones(database, vast_server, worker):
    endpoint_id, _ = worker
    vast_server.add_endpoint("qwen-7b")
    run = update(
        make_resources(database, vast=vast_server, actions="apply"), {"endpoint": "llama-3-70b", "max_workers": 1}
    )
    assert not run.result.success
    assert "No Vast.ai endpoint is named or numbered 'llama-3-70b'" in run.failure
    assert f"llama-3-8b (id {endpoint_id})" in run.failure and "qwen-7b (id " in run.failure
    assert puts(vast_server) == []


def test_dry_run_shows_the_calls_and_changes_nothing(database, vast_server, slack_server, worker):
    endpoint_id, _ = worker
    run = update(
        make_resources(database, vast=vast_server, slack=slack_server, actions="dry-run"),
        {"endpoint": "llama-3-8b", "idle_timeout": 600},
    )
    assert run.result.success
    assert puts(vast_server) == []
    assert vast_server.endpoints[endpoint_id]["inactivity_timeout"] == 300
    calls = run.metadata("update_worker_apply")["calls"]
    assert f'PUT {vast_server.url}/api/v0/endptjobs/{endpoint_id}/ {{"inactivity_timeout": 600}}' in calls
    assert slack_server.messages == []
    assert "**600 s**" in run.metadata("update_worker_confirm")["report"]


def test_settings_that_contradict_the_current_ones_are_refused(database, vast_server, worker):
    run = update(
        make_resources(database, vast=vast_server, actions="apply"), {"endpoint": "llama-3-8b", "cold_workers": 5}
    )
    assert not run.result.success
    assert "cold_workers (5) cannot exceed max_workers (3)" in run.failure and "nothing was changed" in run.failure
    run = update(
        make_resources(database, vast=vast_server, actions="apply"), {"endpoint": "llama-3-8b", "min_workers": 5}
    )
    assert "min_workers=5 needs a worker's measured perf" in run.failure and "nothing was changed" in run.failure
    assert puts(vast_server) == []


def test_a_value_vast_does_not_keep_fails_the_read_back(database, vast_server, worker):
    endpoint_id, _ = worker
    # Vast.ai answers success without storing the change.
    vast_server.script("PUT", f"/api/v0/endptjobs/{endpoint_id}/", Reply(200, {"success": True}))
    run = update(
        make_resources(database, vast=vast_server, actions="apply"), {"endpoint": "llama-3-8b", "max_workers": 5}
    )
    assert not run.result.success
    assert "reads back max_workers=3 (asked 5)" in run.failure


def test_a_refused_put_says_what_was_applied_and_how_to_finish(database, vast_server, worker):
    _, group_id = worker
    vast_server.script("PUT", f"/api/v0/workergroups/{group_id}/", Reply(400, {"success": False, "msg": "bad gpu"}))
    run = update(
        make_resources(database, vast=vast_server, actions="apply"),
        {"endpoint": "llama-3-8b", "idle_timeout": 900, "gpu_type": "H100_SXM"},
    )
    assert not run.result.success
    assert "bad gpu" in run.failure and "Already applied: endpoint" in run.failure
    assert "changes only what still differs" in run.failure
    assert [c["outcome"] for c in worker_changes(database, run.result.run_id)] == ["applied", "failed"]


def test_a_recommendation_is_a_run_config_update_worker_accepts(database, vast_server, slack_server, worker):
    endpoint_id, _ = worker
    assert from_vast(vast_server.endpoints[endpoint_id]).inactivity_timeout == 300
    # The weekly review's fix for many cold starts: the guide's 10 min idle timeout.
    run_config = update_worker_run_config("llama-3-8b", WorkerSettings(inactivity_timeout=600))
    run = update(make_resources(database, vast=vast_server, slack=slack_server, actions="apply"), run_config)
    assert run.result.success, run.messages
    assert vast_server.endpoints[endpoint_id]["inactivity_timeout"] == 600


def test_ambiguous_names_and_a_gpu_without_worker_groups_are_refused(database, vast_server):
    first, second = vast_server.add_endpoint("twin"), vast_server.add_endpoint("twin")
    run = update(make_resources(database, vast=vast_server, actions="apply"), {"endpoint": "twin", "max_workers": 2})
    assert f"twin (id {first}), twin (id {second}); give the id" in run.failure
    run = update(
        make_resources(database, vast=vast_server, actions="apply"), {"endpoint": str(first), "gpu_type": "RTX_3090"}
    )
    assert "search_params (gpu_type) live on worker groups and endpoint twin has none" in run.failure
    assert puts(vast_server) == []


def test_worker_groups_on_different_gpus_are_shown_and_all_moved(database, vast_server, worker):
    endpoint_id, _ = worker
    vast_server.workergroups[901] = {"id": 901, "endpoint_id": endpoint_id, "search_params": "gpu_name=RTX_3090"}
    resources = make_resources(database, vast=vast_server, actions="apply")
    run = update(resources, {"endpoint": "llama-3-8b", "idle_timeout": 450})
    assert run.result.success, run.failure if not run.result.success else ""
    current = run.metadata("update_worker_read")["current"]
    assert "| gpu_name=RTX_3090; gpu_ram>=23 gpu_name=RTX_4090 verified=True |" in current
    run = update(resources, {"endpoint": "llama-3-8b", "gpu_type": "RTX_4090"})
    assert run.result.success
    assert [g["search_params"] for g in vast_server.workergroups.values()] == [
        "gpu_ram>=23 gpu_name=RTX_4090 verified=True",
        "gpu_name=RTX_4090",
    ]
    # Only the group not yet on that GPU is changed.
    assert [p for p, _ in puts(vast_server)] == [f"/api/v0/endptjobs/{endpoint_id}/", "/api/v0/workergroups/901/"]
