import dagster as dg
import pytest

from vast_pipelines.config import build_resources
from vast_pipelines_tests.conftest import code_location


@pytest.mark.parametrize(
    ("name", "interval", "job"),
    [
        ("budget_alert_sensor", 60, "deliver_alerts"),
        ("runaway_cost_sensor", 60, "emergency_shutdown"),
        ("endpoint_down_sensor", 300, "endpoint_check"),
        ("notification_outbox_sensor", 60, "redeliver_notifications"),
        ("emergency_run_failure_sensor", 30, None),
    ],
)
def test_alerting_sensors_run_by_default(name, interval, job):
    sensor = code_location().resolve_sensor_def(name)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == interval
    assert (sensor.job_name if sensor.has_jobs else None) == job


@pytest.mark.parametrize("name", ["emergency_shutdown", "restore_service"])
def test_emergency_jobs_never_overlap(name):
    job = code_location().resolve_job_def(name)
    assert job.tags["vast_pipelines/emergency"] == "true"  # dagster.yaml limits this tag to one run at a time
    # Its steps run in the run's own process: seconds for the whole run, not a process start per step.
    assert job.executor_def is dg.in_process_executor


def test_each_guide_step_is_its_own_op():
    graph = code_location().resolve_job_def("emergency_shutdown").graph
    assert set(graph.node_names()) == {
        "check_current_spend",
        "list_platform_endpoints",
        "stop_endpoints",
        "fallback_switch_router",
        "fallback_restart_router",
        "record_incident",
        "notify_oncall",
        "shutdown_outcome",
    }
    upstream = graph.dependency_structure.input_to_upstream_outputs_for_node("notify_oncall")
    assert {output.node_name for outputs in upstream.values() for output in outputs} >= {
        "stop_endpoints",
        "record_incident",
    }
    repo = code_location().get_repository_def()
    assert dg.AssetKey("notification_outbox") in repo.asset_graph.get_all_asset_keys()


def test_email_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SMTP_URL", "smtp+starttls://ops:SECRET@smtp.example.com:587")
    monkeypatch.setenv("VAST_EMERGENCY_SHUTDOWN", "delete")
    resources = build_resources()
    assert resources["email"]._get_non_default_public_field_values()["smtp_url"] == dg.EnvVar("SMTP_URL")  # noqa: SLF001
    assert resources["email"].to == "platform-ops@bluefly.io"
    assert build_resources(resolved=True)["settings"].shutdown_mode.value == "delete"
