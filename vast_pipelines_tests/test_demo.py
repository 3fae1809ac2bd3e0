import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from vast_pipelines.demo import main, run_demo
from vast_pipelines.demo_traffic import demo_rows, last_complete_week_wednesday
from vast_pipelines.resources.database import AnalyticsDatabase

NEW_YORK = ZoneInfo("America/New_York")

# The calendar's edges: a month's first and last minute, New Year, a leap day, both DST changes in New York.
INSTANTS = [
    (datetime(2026, 3, 1, 0, 5, tzinfo=UTC), UTC),
    (datetime(2026, 2, 28, 23, 55, tzinfo=UTC), UTC),
    (datetime(2027, 1, 1, 0, 5, tzinfo=UTC), UTC),
    (datetime(2028, 2, 29, 12, 0, tzinfo=UTC), UTC),
    (datetime(2026, 3, 31, 23, 59, tzinfo=NEW_YORK), NEW_YORK),
    (datetime(2026, 3, 8, 8, 0, tzinfo=NEW_YORK), NEW_YORK),  # spring forward: a 23-hour day
    (datetime(2026, 11, 1, 23, 55, tzinfo=NEW_YORK), NEW_YORK),  # fall back: a 25-hour day
]


@pytest.mark.parametrize(("now", "tz"), INSTANTS, ids=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
def test_demo_traffic_tells_the_same_story_at_every_instant(now, tz):
    spend: dict[date, float] = defaultdict(float)
    latest = None
    for at, _model, cost, _duration, _cold in demo_rows(now, tz, days=75):
        assert at < now, "no request is logged in the future"
        spend[at.astimezone(tz).date()] += cost or 0.0
        latest = max(latest or at, at)
    today = now.astimezone(tz).date()
    month_to_date = sum(v for d, v in spend.items() if (d.year, d.month) == (today.year, today.month))
    runaway_day = last_complete_week_wednesday(today)
    week = [runaway_day - timedelta(days=2) + timedelta(days=i) for i in range(7)]
    assert week[0].weekday() == 0 and week[-1] < today  # Monday to Sunday, already over
    assert spend[today] > 50  # a runaway in progress today, even 5 minutes after midnight
    assert 50 <= month_to_date < 200  # the first budget level crossed, the hard cap never
    assert spend[runaway_day] > 50 and all(spend[d] < 10 for d in week if d != runaway_day)
    assert all(0.5 <= spend[d] < 5 for d in spend if d not in (today, runaway_day) and d > min(spend))
    assert (now - latest) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("now", "zone"),
    [
        (datetime(2026, 3, 1, 0, 5, tzinfo=UTC), "UTC"),  # the first minute of a month (a Sunday)
        (datetime(2025, 11, 30, 23, 55, tzinfo=NEW_YORK), "America/New_York"),  # the last minute of a month
    ],
    ids=["first-of-month-00:05", "last-of-month-23:55-new-york"],
)
def test_demo_fills_the_embedded_database_and_prints_the_morning_report(embedded_home, monkeypatch, at, now, zone):
    at(now)
    home = embedded_home
    monkeypatch.setenv("VAST_PIPELINES_HOME", str(home))
    monkeypatch.setenv("VAST_PIPELINES_TIMEZONE", zone)
    out = io.StringIO()
    assert run_demo(days=61, out=out) == 0
    text = out.getvalue()
    local = now.astimezone(ZoneInfo(zone))
    runaway_day = last_complete_week_wednesday(local.date())
    assert "synthetic demo traffic" in text and f"on {runaway_day:%a %d %b}" in text
    assert f"=== Vast.ai Health Check {local:%Y-%m-%d %H:%M}" in text and "=== Health Check Complete ===" in text
    assert "vLLM Endpoint (http://127.0.0.1:" in text and "❌ OFFLINE" in text  # loopback, nothing answers
    assert "Yesterday's Spend: $" in text and f"Month-to-date ({local:%B %Y})" in text
    assert "embedded demo database" in text
    # The budget tick decides and requests a delivery run; the demo runs none, and the embedded database never posts.
    assert "=== Sensors: one tick each" in text and "budget_alert_sensor: would start deliver_alerts (budget:" in text
    assert f"runaway_cost_sensor: would start emergency_shutdown (runaway:{local:%Y-%m-%d})" in text
    assert "hard_cap:" not in text
    assert "outbox: budget_" in text
    assert "*Weekly cost review:" in text and "cost_per_request" in text  # the last complete week
    assert f"{runaway_day.isoformat()} {runaway_day:%a}" in text and f"High daily cost (≥ $10) on {runaway_day}" in text

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
