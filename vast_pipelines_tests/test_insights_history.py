"""The freshness and anomaly sensors keep their assets' history: each tick judges once, alerts as before, and
records the verdict on the asset (and the freshness check) only when it changes. On a real Dagster instance,
SQLite and the dagster-postgres storage production runs on."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import psycopg
import pytest
from dagster._core.loader import LoadingContextForTest
from psycopg import sql as pgsql
from sqlalchemy.engine import make_url

from vast_pipelines.defs.insights.anomalies import cost_anomalies
from vast_pipelines.defs.insights.freshness import cost_data_freshness
from vast_pipelines_tests.conftest import _libpq, insert_costs, make_resources, tick_and_launch
from vast_pipelines_tests.test_health_check import checks, metadata
from vast_pipelines_tests.test_insights import NOW, anomaly_traffic, busy_weeks

FRESHNESS = dg.AssetKey("cost_data_freshness")
FRESH_CHECK = dg.AssetCheckKey(FRESHNESS, "cost_data_fresh")
ANOMALIES = dg.AssetKey("cost_anomalies")


@pytest.fixture(params=["sqlite", "postgres"])
def history(request: pytest.FixtureRequest, pg_admin_url: str) -> Iterator[dg.DagsterInstance]:
    """A real Dagster instance: the test default (SQLite), or dagster-postgres in a database of its own."""
    if request.param == "sqlite":
        with dg.instance_for_test() as instance:
            yield instance
        return
    name = f"vpt_dagster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    url = make_url(pg_admin_url).set(database=name, drivername="postgresql+psycopg2")
    try:
        storage = {"postgres": {"postgres_url": url.render_as_string(hide_password=False)}}
        with dg.instance_for_test(overrides={"storage": storage}) as instance:
            yield instance
    finally:
        with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[dict]:
    """The asset's materializations on the instance, oldest first, as their metadata values."""
    records = instance.fetch_materializations(key, limit=100, ascending=True).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]


def check_evaluations(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> list[dg.AssetCheckEvaluation]:
    """The check's stored evaluations, oldest first."""
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    return [r.evaluation for r in reversed(records)]


def latest_check_is_current(instance: dg.DagsterInstance) -> bool:
    """Whether the UI shows the latest check evaluation as the verdict on the latest materialization (recorded in
    the same tick, outside any run)."""
    [record] = instance.event_log_storage.get_asset_check_execution_history(FRESH_CHECK, limit=1)
    return asyncio.run(record.targets_latest_materialization(LoadingContextForTest(instance)))


def test_the_freshness_sensor_records_each_change_of_verdict_on_the_asset_and_its_check(
    database, slack_server, smtp_server, history, at
):
    at(NOW)
    busy_weeks(database, NOW, silent_for=timedelta(hours=3))
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)
    asked = dg.materialize([cost_data_freshness], resources=resources)  # an operator's materialization, same moment

    first = tick_and_launch("cost_freshness_sensor", resources, history)
    [request] = first.run_requests  # the episode's alert, as before
    assert request.tags["vast_pipelines/alert"] == "stale_cost_data"
    [stale] = materializations(history, FRESHNESS)
    assert stale["stale"] is True and stale["minutes_since_last_request"] == pytest.approx(190)
    assert "STALE" in stale["report"]
    # One function builds what both record: the sensor's entry is the asset's own, to the last word.
    assert stale == metadata(asked, "cost_data_freshness")
    [failed] = check_evaluations(history, FRESH_CHECK)
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata == checks(asked)["cost_data_fresh"].metadata
    assert failed.metadata["verdict"].value.startswith("unknown — cost data stale since 2026-03-25 11:20 UTC")

    at(NOW + timedelta(minutes=5))  # the same stale episode: the alert is not repeated, nothing new is recorded
    again = tick_and_launch("cost_freshness_sensor", resources, history, first.cursor)
    assert "alerted when the episode opened" in again.skip_message and not again.run_requests
    assert again.asset_events == []
    assert len(materializations(history, FRESHNESS)) == 1 and len(check_evaluations(history, FRESH_CHECK)) == 1

    insert_costs(database, [(NOW + timedelta(minutes=6), "llama-2-7b", 0.01, 1.0, False)])
    at(NOW + timedelta(minutes=10))  # rows again: one more entry, fresh, and the check passes
    back = tick_and_launch("cost_freshness_sensor", resources, history, again.cursor)
    assert len(back.run_requests) == 1 and len(slack_server.messages) == 2  # "logged again", as before
    entries = materializations(history, FRESHNESS)
    assert len(entries) == 2 and entries[-1]["stale"] is False
    assert entries[-1]["minutes_since_last_request"] == pytest.approx(4)
    evaluations = check_evaluations(history, FRESH_CHECK)
    assert [e.passed for e in evaluations] == [False, True]
    assert evaluations[-1].metadata["verdict"].value == "fresh"

    insert_costs(database, [(NOW + timedelta(minutes=12), "llama-2-7b", 0.01, 1.0, False)])
    at(NOW + timedelta(minutes=15))  # still fresh: a newer row is no new verdict
    quiet = tick_and_launch("cost_freshness_sensor", resources, history, back.cursor)
    assert quiet.skip_message.startswith("Cost data fresh") and quiet.asset_events == []
    assert len(materializations(history, FRESHNESS)) == 2 and len(check_evaluations(history, FRESH_CHECK)) == 2
    assert latest_check_is_current(history)


def test_the_anomaly_sensor_records_each_change_of_the_flagged_models_and_windows(
    database, slack_server, smtp_server, history, at
):
    at(NOW)
    anomaly_traffic(database)
    resources = make_resources(database, slack=slack_server, smtp=smtp_server)
    asked = dg.materialize([cost_anomalies], resources=resources)

    first = tick_and_launch("cost_anomaly_sensor", resources, history)
    assert len(first.run_requests) == 1 and len(slack_server.messages) == 2  # both episodes alerted, as before
    [both] = materializations(history, ANOMALIES)
    assert both["anomalies"] == 2
    assert {(f["scope"], f["driver"]) for f in both["flagged"]} == {
        ("today", "requests up"),
        ("this hour", "cost per request up"),
    }
    assert both == metadata(asked, "cost_anomalies")

    at(NOW + timedelta(minutes=15))  # the same two flagged: nothing new
    again = tick_and_launch("cost_anomaly_sensor", resources, history, first.cursor)
    assert again.skip_message == "2 anomalies flagged." and again.asset_events == []
    assert len(materializations(history, ANOMALIES)) == 1

    at(NOW + timedelta(hours=1))  # a new hour without spend: only today is still flagged
    hour_over = tick_and_launch("cost_anomaly_sensor", resources, history, again.cursor)
    assert hour_over.skip_message == "1 anomaly flagged; ended this hour:llama-3-70b."
    entries = materializations(history, ANOMALIES)
    assert len(entries) == 2 and [f["scope"] for f in entries[-1]["flagged"]] == ["today"]

    at(NOW + timedelta(days=1))  # an ordinary Thursday: none flagged, one more entry
    over = tick_and_launch("cost_anomaly_sensor", resources, history, hour_over.cursor)
    assert over.skip_message == "0 anomalies flagged; ended today:llama-3-70b."
    at(NOW + timedelta(days=1, minutes=15))
    quiet = tick_and_launch("cost_anomaly_sensor", resources, history, over.cursor)
    assert quiet.skip_message == "0 anomalies flagged." and quiet.asset_events == []
    entries = materializations(history, ANOMALIES)
    assert len(entries) == 3 and entries[-1]["anomalies"] == 0 and entries[-1]["flagged"] == []
    assert len(slack_server.messages) == 2  # no alert beyond the two episodes'


def test_an_unreadable_cursor_records_the_verdict_again(database, history, at):
    at(NOW)
    busy_weeks(database, NOW, silent_for=timedelta(hours=3))
    resources = make_resources(database)
    tick = tick_and_launch("cost_freshness_sensor", resources, history, "not what this sensor writes")
    assert len(tick.asset_events) == 2
    assert len(materializations(history, FRESHNESS)) == 1 and len(check_evaluations(history, FRESH_CHECK)) == 1
