from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from vast_pipelines.domain.emergency import ShutdownMode
from vast_pipelines.domain.health import Failure, Probe
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.domain.thresholds import GUIDE
from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.health import endpoint_status, is_possible_cold_start
from vast_pipelines.policy.spend import DailyVerdict, daily_verdict, forecast_month_end
from vast_pipelines.reports.figures import usd
from vast_pipelines.reports.health import offline_actions
from vast_pipelines.resources.settings import RunbookSettings, parse_overrides


@pytest.mark.parametrize(
    ("cost", "requests", "verdict"),
    [
        (0.0, 0, DailyVerdict.NO_DATA),
        (0.0, 10, DailyVerdict.EXCELLENT),
        (4.99, 10, DailyVerdict.EXCELLENT),
        (5.0, 10, DailyVerdict.MODERATE),
        (9.99, 10, DailyVerdict.MODERATE),
        (10.0, 10, DailyVerdict.HIGH),
        (None, 10, DailyVerdict.NO_DATA),
    ],
)
def test_daily_verdict_uses_the_guides_bands(cost, requests, verdict):
    assert daily_verdict(cost, requests) is verdict


def test_periods_follow_the_operators_timezone():
    tz = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 1, 3, 30, tzinfo=UTC)  # still 31 October in New York
    p = periods_at(now, tz)
    assert p.today_start == datetime(2026, 10, 31, 0, 0, tzinfo=tz)
    assert p.previous_day_start == datetime(2026, 10, 30, 0, 0, tzinfo=tz)
    assert p.month_start == datetime(2026, 10, 1, 0, 0, tzinfo=tz)
    assert p.next_month_start == datetime(2026, 11, 1, 0, 0, tzinfo=tz)
    assert p.last_7_days_start == datetime(2026, 10, 24, 0, 0, tzinfo=tz)  # the last 7 complete local days


def test_forecast_projects_the_seven_day_run_rate_over_the_days_left():
    p = periods_at(datetime(2026, 11, 21, 0, 0, tzinfo=UTC), ZoneInfo("UTC"))  # 10 days left
    f = forecast_month_end(month_to_date=80.0, last_7_days_cost=70.0, periods=p)
    assert f.daily_run_rate == pytest.approx(10.0)
    assert f.days_left == pytest.approx(10.0)
    assert f.month_end == pytest.approx(180.0)
    assert f.hard_cap_date is None


def test_forecast_names_the_day_the_hard_cap_is_hit():
    p = periods_at(datetime(2026, 11, 21, 0, 0, tzinfo=UTC), ZoneInfo("UTC"))
    f = forecast_month_end(month_to_date=150.0, last_7_days_cost=70.0, periods=p)
    assert f.hard_cap_date == date(2026, 11, 26)  # $50 left at $10/day
    already = forecast_month_end(month_to_date=GUIDE.hard_cap, last_7_days_cost=0.0, periods=p)
    assert already.hard_cap_date == date(2026, 11, 21)


def test_usd_never_shows_unknown_as_zero():
    assert usd(None) == "unknown"
    assert usd(2.345) == "$2.35"


@pytest.mark.parametrize(
    ("failure", "cold"),
    [(Failure.TIMEOUT, True), (Failure.REFUSED, True), (Failure.DNS, False), (Failure.HTTP_ERROR, False)],
)
def test_only_timeouts_and_refusals_may_be_cold_starts(failure, cold):
    assert is_possible_cold_start(Probe(online=False, failure=failure)) is cold


def test_dns_failure_points_at_tailscale_not_at_waiting():
    status = endpoint_status("vLLM", "http://x", [Probe(online=False, failure=Failure.DNS)])
    assert not status.online
    actions = offline_actions(status)
    assert "Tailscale" in actions[0] and "not a cold start" in actions[0]
    assert not any("wait 30s" in a for a in actions)


def test_down_after_retry_says_truly_down():
    probes = [Probe(online=False, failure=Failure.REFUSED)] * 2
    status = endpoint_status("vLLM", "http://x", probes)
    assert status.attempts == 2
    assert any("truly down" in a for a in offline_actions(status))


def test_threshold_overrides_are_validated():
    assert parse_overrides("hard_cap=300, runaway_daily=80") == {"hard_cap": 300.0, "runaway_daily": 80.0}
    limits = RunbookSettings(thresholds="hard_cap=300").limits()
    assert limits.hard_cap == 300.0 and limits.runaway_daily == GUIDE.runaway_daily
    with pytest.raises(OperatorError, match="hard_cp"):
        RunbookSettings(thresholds="hard_cp=300").limits()
    with pytest.raises(OperatorError, match="name=number"):
        parse_overrides("hard_cap")
    with pytest.raises(OperatorError, match="VAST_PIPELINES_TIMEZONE"):
        RunbookSettings(timezone="Mars/Olympus").tz()
    # Counts are ints, whether the guide's or given.
    counted = RunbookSettings(thresholds="outage_checks=3,what_if_days=7").limits()
    assert (counted.outage_checks, counted.what_if_days, counted.anomaly_weeks) == (3, 7, 4)
    assert {type(counted.outage_checks), type(counted.what_if_days), type(GUIDE.backtest_days)} == {int}
    with pytest.raises(OperatorError, match=r"outage_checks=1\.5 must be a whole number, 1 or more"):
        RunbookSettings(thresholds="outage_checks=1.5").limits()


def test_switches_are_typed_values():
    assert RunbookSettings(emergency_actions="Apply").apply_actions is True
    assert RunbookSettings().apply_actions is False
    assert RunbookSettings(emergency_shutdown="DELETE").shutdown_mode is ShutdownMode.DELETE
    assert RunbookSettings(timezone="Europe/Berlin").tz() == ZoneInfo("Europe/Berlin")
    with pytest.raises(OperatorError, match="VAST_EMERGENCY_ACTIONS='applied' is neither 'apply' nor 'dry-run'"):
        RunbookSettings(emergency_actions="applied").apply_actions  # noqa: B018 - the property parses
