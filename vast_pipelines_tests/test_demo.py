import io

import pytest
import sqlalchemy as sa

from vast_pipelines.demo import main, run_demo
from vast_pipelines.resources.database import AnalyticsDatabase


def test_demo_fills_the_embedded_database_and_prints_the_morning_report(embedded_home, monkeypatch):
    home = embedded_home
    monkeypatch.setenv("VAST_PIPELINES_HOME", str(home))
    out = io.StringIO()
    assert run_demo(days=61, out=out) == 0
    text = out.getvalue()
    assert "synthetic demo traffic" in text
    assert "=== Vast.ai Health Check" in text and "=== Health Check Complete ===" in text
    assert "vLLM Endpoint (http://127.0.0.1:" in text and "❌ OFFLINE" in text  # loopback, nothing answers
    assert "Yesterday's Spend: $" in text and "Month-to-date" in text
    assert "embedded demo database" in text
    # The budget tick decides and requests a delivery run; the demo runs none, and the embedded database never posts.
    assert "=== Sensors: one tick each" in text and "budget_alert_sensor: would start deliver_alerts (budget:" in text
    assert "runaway_cost_sensor:" in text and "outbox: budget_" in text
    assert "*Weekly cost review:" in text and "cost_per_request" in text  # the last complete week

    database = AnalyticsDatabase(home=str(home))
    with database.begin() as conn:
        days, biggest_day, note = conn.execute(
            sa.text(
                "SELECT count(DISTINCT date_trunc('day', timestamp)), "
                "(SELECT max(s) FROM (SELECT sum(cost) s FROM vast_ai_costs GROUP BY date_trunc('day', timestamp)) d), "
                "(SELECT note FROM vast_pipelines.demo_traffic) FROM vast_ai_costs"
            )
        ).one()
        models = conn.execute(sa.text("SELECT count(DISTINCT model) FROM vast_ai_costs")).scalar_one()
    assert days >= 60 and models >= 3
    assert float(biggest_day) > 50  # the runaway day
    assert "SYNTHETIC" in note


def test_demo_refuses_to_write_into_a_configured_database(monkeypatch, capsys):
    monkeypatch.setenv("TIMESCALE_URL", "postgresql://bluefly@127.0.0.1:1/analytics")
    assert run_demo(days=61) == 2
    assert "TIMESCALE_URL is set, so nothing was written" in capsys.readouterr().err


def test_stop_ends_the_embedded_server(embedded_home, monkeypatch, capsys):
    AnalyticsDatabase(home=str(embedded_home)).check_cost_table()
    monkeypatch.setenv("VAST_PIPELINES_HOME", str(embedded_home))
    with pytest.raises(SystemExit):
        main(["--stop"])
    assert capsys.readouterr().out.strip() == "stopped the embedded database"
    assert not (embedded_home / "pgdata" / "postmaster.pid").exists()
