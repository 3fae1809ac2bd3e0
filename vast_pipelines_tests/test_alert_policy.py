from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vast_pipelines.domain.periods import periods_at
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.alerts import FORECAST_KEY, AlertLevel, alerts_to_send, budget_decision, crossed_levels
from vast_pipelines.policy.emergency import Reason, emergency_triggers, holding_reasons, still_holds
from vast_pipelines.policy.outage import OutageAction, down_since, outage_action
from vast_pipelines.policy.spend import forecast_month_end
from vast_pipelines.reports.emergency import reason_line

INFO, W, C, E = AlertLevel.INFO, AlertLevel.WARNING, AlertLevel.CRITICAL, AlertLevel.EMERGENCY


def spend(month_to_date: float = 0.0, today: float = 0.0, last_7: float = 0.0, requests: int = 10) -> SpendSummary:
    return SpendSummary(
        rolling_24h_cost=today,
        rolling_24h_requests=requests,
        previous_day_cost=0.0,
        previous_day_requests=0,
        today_cost=today,
        today_requests=requests,
        month_to_date=month_to_date,
        month_requests=requests,
        last_7_days_cost=last_7,
    )


@pytest.mark.parametrize(
    ("mtd", "levels"),
    [
        (0, ()),
        (49.99, ()),
        (50, (INFO,)),
        (99.99, (INFO,)),
        (100, (INFO, W)),
        (160, (INFO, W, C)),
        (200, (INFO, W, C, E)),
    ],
)
def test_crossed_levels_at_the_guides_thresholds(mtd, levels):
    assert crossed_levels(mtd) == levels


def test_thresholds_are_configurable():
    assert crossed_levels(60, Thresholds(alert_info=75)) == ()


def test_a_jump_over_several_levels_sends_only_the_highest():
    periods = periods_at(datetime(2026, 3, 28, tzinfo=UTC), ZoneInfo("UTC"))
    current = spend(month_to_date=160.0)
    decision = budget_decision(current, forecast_month_end(160.0, 0.0, periods), "2026-03-01")
    assert decision.keys == ("info", "warning", "critical") and decision.notify_keys() == ("critical",)
    plan = alerts_to_send(decision, {"info", "warning", "critical"})
    assert (plan.level, plan.forecast) == (C, False)
    # Someone else already claimed critical: this caller sends nothing even though it won the lower levels.
    assert alerts_to_send(decision, {"info", "warning"}).level is None


def test_no_logged_requests_never_alerts_nor_forecasts():
    periods = periods_at(datetime(2026, 3, 8, tzinfo=UTC), ZoneInfo("UTC"))
    decision = budget_decision(spend(requests=0), forecast_month_end(0.0, 0.0, periods), "2026-03-01")
    assert decision.keys == () and decision.highest is None


def test_the_forecast_warns_ahead_and_rides_along_with_a_level_alert():
    periods = periods_at(datetime(2026, 3, 8, tzinfo=UTC), ZoneInfo("UTC"))
    current = spend(month_to_date=60.0, last_7=56.0)  # $8/day for 23 more days: $244 by month end
    decision = budget_decision(current, forecast_month_end(60.0, 56.0, periods), "2026-03-01")
    assert decision.forecast_warning and decision.keys == ("info", FORECAST_KEY)
    assert alerts_to_send(decision, {"info", FORECAST_KEY}) == alerts_to_send(decision, {"info"})
    assert alerts_to_send(decision, {FORECAST_KEY}).forecast is True
    at_cap = budget_decision(spend(month_to_date=201.0, last_7=56.0), forecast_month_end(201.0, 56.0, periods), "m")
    assert not at_cap.forecast_warning  # at the cap the emergency alert speaks, not the forecast


@pytest.mark.parametrize(
    ("today", "mtd", "keys"),
    [
        (50.0, 120.0, []),  # "> $50/day": exactly 50 is not runaway
        (50.01, 120.0, ["runaway:2026-03-14"]),
        (10.0, 200.0, ["hard_cap:2026-03"]),
        (60.0, 210.0, ["runaway:2026-03-14", "hard_cap:2026-03"]),
    ],
)
def test_emergency_triggers_and_their_run_keys(today, mtd, keys):
    triggers = emergency_triggers(spend(month_to_date=mtd, today=today), date(2026, 3, 14))
    assert [t.run_key for t in triggers] == keys


def test_still_holds_and_restore_refusal_reasons():
    runaway_day = spend(month_to_date=120.0, today=62.0)
    assert still_holds(Reason.RUNAWAY, runaway_day) and not still_holds(Reason.HARD_CAP, runaway_day)
    assert still_holds(Reason.MANUAL, spend())
    [reason] = holding_reasons(runaway_day)
    assert "Runaway costs: $62.00 spent today" in reason_line(reason)
    assert holding_reasons(spend(month_to_date=120.0, today=3.0), GUIDE) == ()


@pytest.mark.parametrize(
    ("recent", "needed", "open_", "action"),
    [
        ([False], 2, False, OutageAction.NONE),  # one failed check is not an outage yet
        ([False, False], 2, False, OutageAction.OPEN),
        ([False, False], 2, True, OutageAction.NONE),  # already announced: not every 5 minutes
        ([False, True], 2, False, OutageAction.NONE),
        ([True, False, False], 2, True, OutageAction.RECOVER),
        ([True], 2, False, OutageAction.NONE),
        ([False], 1, False, OutageAction.OPEN),
        ([False, False], 3, False, OutageAction.NONE),
    ],
)
def test_outage_needs_consecutive_failed_checks(recent, needed, open_, action):
    assert outage_action(recent, needed, open_) is action


def test_down_since_is_the_first_failed_check_of_the_run():
    t0 = datetime(2026, 3, 14, 12, tzinfo=UTC)
    checks = [(False, t0), (False, t0 - timedelta(minutes=5)), (True, t0 - timedelta(minutes=10))]
    assert down_since(checks) == t0 - timedelta(minutes=5)
    assert down_since([(True, t0)]) is None
