from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from vast_pipelines.config import build_resources
from vast_pipelines.definitions import defs
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines_tests.conftest import (
    SLACK_TOKEN,
    VAST_KEY,
    closed_port_url,
    insert_costs,
    loopback_environment,
    make_resources,
)

NOW = datetime(2026, 4, 15, 14, 0, tzinfo=UTC)  # the health check runs as of this moment

def run_health_check(resources: dict) -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def("daily_health_check")
    with dg.instance_for_test() as instance:
        return job.execute_in_process(instance=instance, resources=resources)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [event] = [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(asset)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_morning_health_check_end_to_end(database, vllm, slack_server, vast_server, tailscale_cli, at):
    now = NOW
    at(now)
    insert_costs(
        database,
        [
            (now - timedelta(hours=2), "llama-2-7b", 1.50, 1.2, False),
            (now - timedelta(hours=3), "llama-2-7b", 0.84, 14.0, True),
            (now - timedelta(hours=4), "llama-2-7b", None, 1.0, False),
        ],
    )
    endpoint_id = vast_server.add_endpoint("llama-2-7b", workers=[{"id": 9, "status": "running", "cur_load": 1}])
    result = run_health_check(
        make_resources(database, vllm_url=vllm.url, vast=vast_server, slack=slack_server, tailscale=tailscale_cli)
    )
    assert result.success

    results = checks(result)
    assert results["vllm_online"].passed is True
    assert results["ollama_online"].passed is False  # nothing listens for Ollama
    assert results["ollama_online"].severity == dg.AssetCheckSeverity.ERROR

    spend = metadata(result, "yesterday_spend")
    assert spend["yesterday_spend"] == pytest.approx(2.34)
    assert spend["requests_24h"] == 3 and spend["null_cost_rows"] == 1
    assert {"previous_day_spend", "month_to_date", "forecast_month_end"} <= set(spend)
    assert spend["daily_verdict"] == "excellent"

    health = metadata(result, "endpoint_health")
    assert health["vllm_online"] is True and health["ollama_online"] is False
    assert health["tailscale"] == "active"

    [message] = slack_server.messages
    assert message["channel"] == "#platform-updates"
    text = message["text"]
    assert "vLLM Endpoint" in text and "✅ ONLINE" in text and "llama-2-7b" in text
    assert "❌ OFFLINE" in text and "Check Tailscale" in text
    assert "Yesterday's Spend: $2.34" in text
    assert f"id {endpoint_id}" in text and "9: running" in text
    for secret in (VAST_KEY, SLACK_TOKEN, "endpoint-secret"):
        assert secret not in text

    with database.begin() as conn:
        row = conn.execute(
            sa.text(
                "SELECT all_online, report_markdown, endpoints FROM vast_pipelines.health_checks WHERE run_id = :r"
            ),
            {"r": result.run_id},
        ).one()
    assert row.all_online is False and row.report_markdown == text
    assert [e["online"] for e in row.endpoints] == [True, False]


def test_empty_cost_table_reports_no_data_instead_of_excellent(database):
    result = run_health_check(make_resources(database))
    assert result.success
    spend = metadata(result, "yesterday_spend")
    assert spend["yesterday_spend"] == 0.0 and spend["daily_verdict"] == "no data"
    assert checks(result)["daily_spend_band"].passed is False
    with database.begin() as conn:
        report = conn.execute(sa.text("SELECT report_markdown FROM vast_pipelines.health_checks")).scalar_one()
    assert "Yesterday's Spend: no data (no request with a cost)" in report and "No data" in report
    assert "not checked" in report and "VAST_API_KEY is not set" in report


def test_slack_outage_keeps_the_report_in_the_outbox_and_the_run_succeeds(database):
    resources = make_resources(database)
    resources["slack"] = SlackResource(bot_token=SLACK_TOKEN, api_url=closed_port_url() + "/api/")
    result = run_health_check(resources)
    assert result.success
    assert metadata(result, "health_check_report")["slack_delivery"] == "failed"
    with database.begin() as conn:
        status, kind, body = conn.execute(
            sa.text("SELECT status, kind, body FROM vast_pipelines.notification_outbox")
        ).one()
    assert (status, kind) == ("failed", "health_check") and "Health Check Complete" in body


def test_without_a_slack_token_the_report_waits_as_not_configured(database):
    result = run_health_check(make_resources(database))
    assert metadata(result, "health_check_report")["slack_delivery"] == "not_configured"


def test_daily_verdict_turns_the_check_red_on_a_high_day(database, at):
    now = NOW
    at(now)
    insert_costs(database, [(now - timedelta(hours=1), "llama-3-70b", 12.0, 30.0, False)])
    result = run_health_check(make_resources(database))
    band = checks(result)["daily_spend_band"]
    assert band.passed is False and band.severity == dg.AssetCheckSeverity.ERROR


def test_configuration_from_the_environment_resolves_when_the_run_starts(
    database, fresh_database_url, vllm, ollama, slack_server, vast_server, monkeypatch
):
    """TIMESCALE_URL and every endpoint given as environment variables, as `dagster dev` would see them."""
    for var, value in {
        "TIMESCALE_URL": fresh_database_url,
        "SLACK_UPDATES_CHANNEL": "#platform-updates",
        **loopback_environment(vllm=vllm, ollama=ollama, vast=vast_server, slack=slack_server),
    }.items():
        monkeypatch.setenv(var, value)
    vast_server.add_endpoint("llama-2-7b")
    result = run_health_check(build_resources())
    assert result.success
    assert checks(result)["vllm_online"].passed and checks(result)["ollama_online"].passed
    assert len(slack_server.messages) == 1
    assert not database.is_embedded
    with database.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM vast_pipelines.health_checks")).scalar_one() == 1
