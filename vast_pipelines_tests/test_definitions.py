import dagster as dg

from vast_pipelines.config import build_resources
from vast_pipelines.definitions import defs


def test_definitions_load_with_the_spec_names():
    repo = defs().get_repository_def()
    assert "daily_health_check" in {j.name for j in repo.get_all_jobs()}
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"endpoint_health", "yesterday_spend"} <= keys
    schedule = repo.get_schedule_def("daily_health_check_schedule")
    assert schedule.cron_schedule == "0 8 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    checks = {c.name for c in repo.asset_graph.asset_check_keys}
    assert {"vllm_online", "ollama_online"} <= checks


def test_schedule_follows_the_configured_timezone(monkeypatch):
    monkeypatch.setenv("VAST_PIPELINES_TIMEZONE", "Europe/Berlin")
    schedule = defs().get_repository_def().get_schedule_def("daily_health_check_schedule")
    assert schedule.execution_timezone == "Europe/Berlin"


def test_set_variables_become_env_vars_and_unset_ones_keep_the_guides_defaults(monkeypatch):
    monkeypatch.setenv("VAST_API_KEY", "k-SECRET")
    resources = build_resources()
    fields = resources["vast"]._get_non_default_public_field_values()  # noqa: SLF001
    assert fields["api_key"] == dg.EnvVar("VAST_API_KEY")
    assert resources["endpoints"].vllm_url == "http://vastai-gpu.tailcf98b3.ts.net:8000"
    assert resources["slack"].alerts_channel == "#platform-alerts"
    assert resources["database"].url is None
