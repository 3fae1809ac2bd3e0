from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from vast_pipelines.domain.periods import periods_at
from vast_pipelines.reports.figures import round_money
from vast_pipelines_tests.conftest import insert_costs, make_resources
from vast_pipelines_tests.cost_runs import guide_now
from vast_pipelines_tests.test_health_check import checks, metadata, run_health_check

ZONE = "America/Los_Angeles"
NOW = datetime(2026, 5, 20, 21, 0, tzinfo=UTC)  # 14:00 in Los Angeles


def test_the_health_check_refreshes_both_and_they_equal_the_guides_sql(database, at):
    at(NOW)
    midnight = periods_at(NOW, ZoneInfo(ZONE)).today_start
    at = lambda seconds: midnight + timedelta(seconds=seconds)  # noqa: E731
    insert_costs(
        database,
        [
            (at(-1), "llama-2-7b", 7.0, 40.0, True),  # yesterday: not today's driver, but in the last 24 h
            (at(0), "llama-2-7b", 0.255, 1.2, False),  # exactly at local midnight: today
            (at(1), "llama-2-7b", 0.1, 1.9, False),
            (at(2), "llama-3-70b", 3.5, 12.0, True),
            (at(3), "llama-3-70b", None, 8.0, False),  # no cost
            (at(4), "mistral-7b-instruct", None, None, None),  # no cost, no duration
            (at(5), None, 0.2, 2.0, False),  # no model
        ],
    )
    result = run_health_check(make_resources(database, timezone=ZONE))
    assert result.success

    drivers = metadata(result, "top_cost_drivers")["drivers"].records
    ours = {
        (r.data["model"] if r.data["model"] != "(no model)" else None): (
            r.data["requests"],
            round_money(Decimal(str(r.data["total_cost"])), 2) if r.data["total_cost"] is not None else None,
            round(r.data["avg_duration_sec"], 2) if r.data["avg_duration_sec"] is not None else None,
        )
        for r in drivers
    }
    guide = {
        model: (requests, cost, float(avg) if avg is not None else None)
        for model, requests, cost, avg in guide_now(database, "top_cost_drivers", ZONE, NOW)
    }
    assert ours == guide
    assert [r.data["model"] for r in drivers][:2] == ["llama-3-70b", "llama-2-7b"]  # most expensive first
    assert drivers[-1].data["model"] == "mistral-7b-instruct"  # no cost: last, not first as in the guide

    latency = metadata(result, "latency_percentiles")
    [(p50, p95, p99, rate)] = guide_now(database, "latency_percentiles", ZONE, NOW)
    assert (latency["p50_sec"], latency["p95_sec"], latency["p99_sec"]) == pytest.approx((p50, p95, p99))
    assert round(latency["cold_start_rate"], 2) == float(rate)
    assert latency["requests"] == 7 and latency["cold_p50_sec"] == pytest.approx(26.0)
    assert latency["warm_p50_sec"] == pytest.approx(1.95)


def test_slow_warm_requests_and_many_cold_starts_get_the_guides_fixes(database, at):
    now = NOW
    at(now)
    rows = [(now - timedelta(minutes=i + 1), "llama-3-70b", 0.1, 7.0, False) for i in range(6)]
    rows += [(now - timedelta(minutes=i + 10), "llama-3-70b", 0.3, 30.0, True) for i in range(4)]
    insert_costs(database, rows)
    result = run_health_check(make_resources(database))
    latency = metadata(result, "latency_percentiles")
    assert latency["latency_verdict"] == "investigate" and latency["cold_start_rate"] == pytest.approx(0.4)
    fixes = {(f.data["action"], f.data["field"]): f.data["suggested_value"] for f in latency["fixes"].records}
    assert fixes == {
        ("keep_warm", "inactivity_timeout"): "600",
        ("keep_warm", "min_load"): "1.0",  # warm = active: min_load above 0, not cold_workers
        ("use_faster_gpu", "gpu_type"): "RTX_A6000",
    }
    band = checks(result)["latency_band"]
    assert band.passed is False and band.severity == dg.AssetCheckSeverity.ERROR
    report = metadata(result, "top_cost_drivers")["report"]
    assert "many cold starts (40%)" in report and "large model running" in report


def test_no_requests_is_no_data(database):
    result = run_health_check(make_resources(database))
    latency = metadata(result, "latency_percentiles")
    assert latency["latency_verdict"] == "no data" and "p50_sec" not in latency and latency["requests"] == 0
    band = checks(result)["latency_band"]
    assert band.passed is False and band.severity == dg.AssetCheckSeverity.WARN
    drivers = metadata(result, "top_cost_drivers")
    assert drivers["models"] == 0 and "no data" in drivers["report"]
