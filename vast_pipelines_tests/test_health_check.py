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


def test_month_so_far_lists_every_day_today_included_with_the_guides_verdict(database, at):
    """The guide's "Current month spend by day", in the morning report and as a table in the UI."""
    at(NOW)  # 15 April, 14:00 UTC
    insert_costs(
        database,
        [
            (datetime(2026, 4, 1, 9, tzinfo=UTC), "llama-2-7b", 1.234, 1.0, False),
            (datetime(2026, 4, 1, 10, tzinfo=UTC), "llama-2-7b", 2.0, 1.0, False),
            (datetime(2026, 4, 7, 10, tzinfo=UTC), "llama-3-70b", 7.5, 9.0, True),
            (datetime(2026, 4, 14, 23, 59, tzinfo=UTC), "llama-3-70b", 12.004, 9.0, False),
            (NOW - timedelta(hours=1), "llama-3-70b", 60.0, 9.0, False),
            (datetime(2026, 3, 31, 23, 59, tzinfo=UTC), "llama-2-7b", 99.0, 1.0, False),  # last month: not listed
        ],
    )
    result = run_health_check(make_resources(database))
    assert result.success
    spend = metadata(result, "yesterday_spend")
    rows = [r.data for r in spend["month_so_far"].records]
    assert len(rows) == 15  # 1 to 15 April, newest first
    assert rows[0] == {
        "day": "2026-04-15 Wed (so far)",
        "daily_cost": 60.0,
        "requests": 1,
        "cost_per_request": 60.0,
        "verdict": "high",
    }
    by_day = {r["day"]: r for r in rows}
    assert by_day["2026-04-14 Tue"]["daily_cost"] == 12.0 and by_day["2026-04-14 Tue"]["verdict"] == "high"
    assert by_day["2026-04-07 Tue"]["verdict"] == "moderate"
    assert by_day["2026-04-01 Wed"]["daily_cost"] == 3.23 and by_day["2026-04-01 Wed"]["verdict"] == "excellent"
    assert by_day["2026-04-01 Wed"]["cost_per_request"] == 1.617  # ROUND(3.234 / 2, 5)
    assert by_day["2026-04-02 Thu"]["daily_cost"] is None and by_day["2026-04-02 Thu"]["verdict"] == "no data"
    # The complete days were rolled up now and recorded as the cost history's materializations.
    rolled = {
        e.partition for e in result.get_asset_materialization_events() if e.asset_key.path == ["daily_cost_history"]
    }
    assert rolled == {f"2026-04-{d:02d}" for d in range(1, 15)}

    text = spend["report"]
    assert "Month so far by day (April 2026, today so far included):" in text
    assert "2026-04-15 Wed &nbsp;" not in text  # plain report lines, not table markup
    lines = [line for line in text.split("  \n") if line.lstrip().startswith("2026-04-")]
    assert len(lines) == 15 and "2026-04-15 Wed" in lines[0] and "❌ high so far" in lines[0]
    assert "$3.23" in lines[-1] and "✅ excellent" in lines[-1]
    with database.begin() as conn:
        morning = conn.execute(sa.text("SELECT report_markdown FROM vast_pipelines.health_checks")).scalar_one()
    assert "Month so far by day" in morning and "2026-04-02 Thu     no data" in morning


def test_an_excellent_day_does_not_say_on_track_when_the_forecast_is_over_target(database, at):
    at(NOW)
    # $14/day for the last 7 complete days, $1 in the last 24 h: the month heads for ~$300.
    rows = [(NOW - timedelta(days=d, hours=12), "llama-3-70b", 14.0, 9.0, False) for d in range(2, 9)]
    insert_costs(database, [*rows, (NOW - timedelta(hours=2), "llama-2-7b", 1.0, 1.0, False)])
    result = run_health_check(make_resources(database))
    text = metadata(result, "yesterday_spend")["report"]
    assert "on track for <$150/month" not in text
    assert "✅ Excellent for the last 24 h, but the month is not on track: forecast $" in text
