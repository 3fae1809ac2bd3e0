import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import sqlalchemy as sa

from vast_pipelines.domain.periods import periods_at
from vast_pipelines.resources.database import AnalyticsDatabase, dispose_engine
from vast_pipelines.store.errors import CostTableMissing, DatabaseUnavailable
from vast_pipelines.store.schema import migrate
from vast_pipelines.store.spend import SUMMARY as SPEND_SUMMARY
from vast_pipelines.store.spend import spend_parameters
from vast_pipelines_tests.conftest import _libpq, insert_costs

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def test_empty_cost_table_is_zero_with_no_data_not_a_crash(database):
    spend = database.spend.summary(periods_at(NOW, UTC_ZONE))
    assert spend.rolling_24h_cost == 0.0 and spend.month_to_date == 0.0
    assert spend.has_data is False


def test_spend_counts_are_read_as_integers_and_money_as_floats(database):
    """The statement sums counts in SQL; they come back as whole numbers, never as decimals cast in Python."""
    insert_costs(database, [(NOW - timedelta(hours=h), "llama-2-7b", 0.5, 1.0, False) for h in range(3)])
    periods = periods_at(NOW, UTC_ZONE)
    spend = database.spend.summary(periods)
    with database.begin() as conn:
        row = conn.execute(sa.text(SPEND_SUMMARY), spend_parameters(periods)).mappings().one()
    names = [f.name for f in dataclasses.fields(spend) if f.type in ("int", "int | None")]
    assert len(names) == 15 and all(type(row[name]) is int for name in names), {name: row[name] for name in names}
    assert row["rolling_24h_requests"] == spend.rolling_24h_requests == spend.month_requests == 3
    assert type(spend.month_to_date) is float and spend.month_to_date == pytest.approx(1.5)


def test_spend_windows_match_the_guides_queries(database):
    insert_costs(
        database,
        [
            (NOW - timedelta(hours=1), "llama-2-7b", 1.25, 1.0, False),
            (NOW - timedelta(hours=23), "llama-2-7b", 2.00, 1.0, True),
            (NOW - timedelta(hours=25), "llama-3-70b", 4.00, 9.0, False),  # outside 24 h, inside previous day
            (datetime(2026, 11, 1, 0, 0, tzinfo=UTC), "llama-2-7b", 8.00, 1.0, False),  # exactly at month start
            (datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), "llama-2-7b", 100.0, 1.0, False),  # last month
            (NOW - timedelta(hours=2), "llama-2-7b", None, 1.0, False),  # NULL cost: counted, not money
            (NOW + timedelta(days=2), "llama-2-7b", 50.0, 1.0, False),  # clock skew: future
        ],
    )
    spend = database.spend.summary(periods_at(NOW, UTC_ZONE))
    assert spend.rolling_24h_cost == pytest.approx(3.25)
    assert spend.rolling_24h_requests == 3
    assert spend.previous_day_cost == pytest.approx(6.00)  # 2026-11-19 00:00-24:00: the 23 h and 25 h rows
    assert spend.today_cost == pytest.approx(1.25)
    assert spend.month_to_date == pytest.approx(15.25)
    assert spend.month_requests == 5
    assert spend.month_null_cost_rows == 1
    assert spend.future_rows == 1
    with database.begin() as conn:  # the guide's own "Yesterday's Spend" SQL, minus the future row
        guide = conn.execute(
            sa.text(
                "SELECT COALESCE(SUM(cost), 0) FROM vast_ai_costs "
                "WHERE timestamp >= CAST(:now AS timestamptz) - INTERVAL '1 day' AND timestamp <= :now"
            ),
            {"now": NOW},
        ).scalar_one()
    assert float(guide) == pytest.approx(spend.rolling_24h_cost)


def test_days_are_cut_in_the_operators_timezone(database):
    tz = ZoneInfo("Europe/Berlin")
    insert_costs(database, [(datetime(2026, 11, 19, 23, 30, tzinfo=UTC), "m", 3.0, 1.0, False)])  # 00:30 Berlin
    spend = database.spend.summary(periods_at(NOW, tz))
    assert spend.today_cost == pytest.approx(3.0) and spend.previous_day_cost == 0.0


def test_missing_columns_are_named(database):
    with database.begin() as conn:
        conn.execute(sa.text("DROP TABLE vast_ai_costs"))
        conn.execute(sa.text('CREATE TABLE vast_ai_costs ("timestamp" timestamptz, model text, cost numeric)'))
    with pytest.raises(CostTableMissing, match=r"duration \(double precision\), cold_start \(boolean\)"):
        database.check_cost_table()
    # The spend statement reads only timestamp and cost: the sensors keep judging.
    assert database.spend.summary(periods_at(NOW, UTC_ZONE)).month_requests == 0


def test_missing_table_is_explained_and_not_created_in_production(fresh_database_url):
    database = AnalyticsDatabase(url=fresh_database_url)
    with pytest.raises(CostTableMissing, match="does not exist.*agent-router writes it"):
        database.check_cost_table()


def test_unreachable_database_names_the_setting_and_hides_the_password():
    database = AnalyticsDatabase(
        url="postgresql://bluefly:hunter2-SECRET@127.0.0.1:1/analytics", connect_attempts=1, connect_timeout_seconds=2
    )
    with pytest.raises(DatabaseUnavailable) as err:
        database.check_cost_table()
    message = str(err.value)
    assert "TIMESCALE_URL" in message and "127.0.0.1:1" in message
    assert "hunter2-SECRET" not in message
    dispose_engine(database.url)


def test_migration_is_idempotent(database):
    for _ in range(2):
        migrate(database.engine, embedded=False)
    with database.begin() as conn:
        tables = (
            conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'vast_pipelines' ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
    assert {"health_checks", "notification_outbox"} <= set(tables)


def test_embedded_default_starts_its_own_server_and_creates_the_cost_table(embedded_home):
    database = AnalyticsDatabase(home=str(embedded_home))
    assert database.is_embedded and database.label.startswith("embedded demo database")
    database.check_cost_table()  # created by the embedded migration
    url = str(database.engine.url.render_as_string(hide_password=False)).replace("+psycopg", "")
    with psycopg.connect(_libpq(url)) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "analytics"
    assert (embedded_home / "pgdata" / "PG_VERSION").exists()


def _rows_between(start: datetime, days: int) -> list[tuple]:
    rows = []
    for hour in range(0, days * 24, 5):
        at = start + timedelta(hours=hour, minutes=17)
        cost = None if hour % 35 == 0 else (-0.10 if hour % 55 == 0 else round(0.37 + (hour % 7) * 0.11, 2))
        rows.append((at, "llama-2-7b" if hour % 3 else "llama-3-70b", cost, 1.5, hour % 4 == 0))
    return rows


@pytest.mark.parametrize("rolled_up", ["none", "all", "with a gap", "other timezone"])
def test_whole_days_from_the_rollup_give_the_same_figures_as_raw_rows(database, rolled_up):
    """The sensors' spend query reads whole days from daily_cost_history; the figures must not change."""
    tz = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    periods = periods_at(now, tz)
    insert_costs(database, _rows_between(datetime(2026, 10, 25, tzinfo=UTC), 27))
    expected = database.spend.summary(periods)  # nothing rolled up yet: all raw

    today = periods.today_start.date()
    days = [today - timedelta(days=n) for n in range(1, 27)]
    skip = {today - timedelta(days=4)} if rolled_up == "with a gap" else set()
    for day in days if rolled_up != "none" else []:
        if day in skip:
            continue
        zone = ZoneInfo("UTC") if rolled_up == "other timezone" else tz
        start = datetime.combine(day, datetime.min.time(), zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        database.cost_history.refresh_day(day=day, window_start=start, window_end=end, timezone=zone.key, run_id=None)
    # A late row for a rolled-up day is invisible until that day is rolled up again (the morning schedule).
    assert database.spend.summary(periods) == expected
    without_rolling = database.spend.summary(periods, rolling_24h=False)  # what the per-minute sensors read
    assert (
        dataclasses.replace(
            without_rolling,
            rolling_24h_cost=expected.rolling_24h_cost,
            rolling_24h_requests=expected.rolling_24h_requests,
            rolling_24h_costed_requests=expected.rolling_24h_costed_requests,
        )
        == expected
    )
    with database.begin() as conn:
        raw_from = conn.execute(sa.text(SPEND_SUMMARY), spend_parameters(periods)).mappings().one()["raw_from_day"]
    month_first = periods.month_start.date()  # history is needed from the 1st (or 7 days back, if earlier)
    expected_from = {"none": month_first, "all": today, "with a gap": today - timedelta(days=4)}
    assert raw_from == expected_from.get(rolled_up, month_first)
