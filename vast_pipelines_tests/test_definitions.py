from pathlib import Path

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


def test_lineage_starts_at_vast_ai_costs():
    graph = defs().get_repository_def().asset_graph
    source = dg.AssetKey("vast_ai_costs")
    assert not graph.get(source).is_materializable
    readers = {k.to_user_string() for k in graph.get(source).child_keys}
    assert readers == {
        "daily_cost_history",
        "yesterday_spend",
        "top_cost_drivers",
        "latency_percentiles",
        "cost_data_freshness",
        "cost_anomalies",
        "idle_timeout_what_if",
        "billing_reconciliation",
    }
    # The reviews read the rollup, so their lineage runs through it.
    weekly = graph.get(dg.AssetKey("weekly_cost_report"))
    assert weekly.parent_keys == {dg.AssetKey("daily_cost_history")}
    roots = {k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).parent_keys}
    assert "daily_cost_history" not in roots and "vast_ai_costs" in roots


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


def test_deployment_jobs_show_a_flat_config_form_with_the_guides_defaults():
    repo = defs().get_repository_def()
    deploy = repo.get_job("deploy_model")
    fields = deploy.run_config_schema.config_type.fields
    assert fields["model_name"].is_required and not fields["image"].is_required
    assert fields["max_workers"].default_value == 3
    # The guide's words take the guide's defaults unless the Vast.ai field they map to is given directly,
    # so the form leaves them blank and says the default.
    for name, default in (("gpu_type", "RTX_4090"), ("min_workers", "0"), ("idle_timeout", "300")):
        assert not fields[name].is_required and default in fields[name].description
    from vast_pipelines.defs.deploy.config import DeployModelConfig

    settings = DeployModelConfig(model_name="meta-llama/Llama-3-8b", image="img:1").spec().settings
    assert (settings.min_load, settings.inactivity_timeout, settings.max_workers) == (0.0, 300, 3)
    assert settings.search_params == "gpu_name=RTX_4090 verified=True rentable=True rented=False"
    given = DeployModelConfig(model_name="m/x", image="i", min_load=245.0, inactivity_timeout=900).spec().settings
    assert (given.min_load, given.inactivity_timeout) == (245.0, 900)
    update = repo.get_job("update_worker").run_config_schema.config_type.fields
    assert set(update) == {
        "endpoint",
        "min_load",
        "min_cold_load",
        "cold_workers",
        "max_workers",
        "target_util",
        "cold_mult",
        "inactivity_timeout",
        "search_params",
        "idle_timeout",
        "min_workers",
        "gpu_type",
    }
    assert update["endpoint"].is_required and not update["idle_timeout"].is_required
    # Both change the account: one at a time (dagster.yaml limits this tag to 1).
    assert (
        deploy.tags["vast_pipelines/vast_changes"] == repo.get_job("update_worker").tags["vast_pipelines/vast_changes"]
    )
    instance_yaml = (Path(__file__).resolve().parents[1] / "dagster.yaml").read_text()
    assert "key: vast_pipelines/vast_changes\n        limit: 1" in instance_yaml
