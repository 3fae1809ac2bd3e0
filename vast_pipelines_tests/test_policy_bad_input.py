"""Pure rules for bad input: which thresholds make sense, and what a month or day without usable costs decides."""

import dataclasses
from datetime import UTC, date, datetime

import pytest

from vast_pipelines.domain.numbers import float_or_none, int_or_none
from vast_pipelines.domain.periods import periods_at
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE
from vast_pipelines.policy.alerts import UNCOUNTED_PREFIX, AlertLevel, alerts_to_send, budget_decision
from vast_pipelines.policy.spend import DailyVerdict, daily_verdict, forecast_month_end
from vast_pipelines.resources.settings import threshold_problems

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


def test_the_guides_numbers_make_sense():
    assert threshold_problems(GUIDE) == []
    assert threshold_problems(dataclasses.replace(GUIDE, gpu_hour_usd=0.0)) == []  # 0: the endpoint's price


@pytest.mark.parametrize(
    ("changes", "names", "rule"),
    [
        ({"runaway_daily": -1.0}, ("runaway_daily",), "above 0"),
        ({"hard_cap": 0.0}, ("hard_cap",), "above 0"),
        ({"hard_cap": float("nan")}, ("hard_cap",), "a finite number"),
        ({"runaway_daily": float("inf")}, ("runaway_daily",), "a finite number"),
        ({"gpu_hour_usd": -0.5}, ("gpu_hour_usd",), "0 or more"),
        ({"cold_start_rate": 1.5}, ("cold_start_rate",), "a share between 0 and 1"),
        ({"outage_checks": 1.5}, ("outage_checks",), "a whole number, 1 or more"),
        ({"alert_warning": 40.0}, ("alert_info", "alert_warning"), "alert_info below alert_warning"),
        ({"budget_target": 250.0}, ("budget_target", "hard_cap"), "budget_target below hard_cap"),
        ({"runaway_daily": 201.0}, ("runaway_daily", "hard_cap"), "runaway_daily (a day) at most hard_cap (a month)"),
    ],
)
def test_a_threshold_that_would_switch_a_check_off_or_pull_the_trigger_is_a_problem(changes, names, rule):
    [problem] = threshold_problems(dataclasses.replace(GUIDE, **changes))
    assert (problem.names, problem.rule) == (names, rule)


def summary(**fields) -> SpendSummary:
    base = dict(
        rolling_24h_cost=0.0,
        rolling_24h_requests=3,
        previous_day_cost=0.0,
        previous_day_requests=0,
        today_cost=0.0,
        today_requests=3,
        month_to_date=0.0,
        month_requests=3,
        last_7_days_cost=0.0,
    )
    return SpendSummary(**{**base, **fields})


def test_a_month_whose_rows_carry_no_cost_crosses_no_level_but_todays_rows_alert_once():
    spend = summary(
        month_costed_requests=0, today_costed_requests=0, rolling_24h_costed_requests=0, today_null_cost_rows=3
    )
    periods = periods_at(NOW, UTC)
    decision = budget_decision(spend, forecast_month_end(0.0, 0.0, periods), "2026-03-01", today=date(2026, 3, 14))
    assert decision.crossed == () and not decision.forecast_warning
    assert decision.keys == (f"{UNCOUNTED_PREFIX}2026-03-14",) == decision.notify_keys()
    assert alerts_to_send(decision, set(decision.keys)).uncounted
    assert not alerts_to_send(decision, set()).uncounted  # claimed by an earlier tick: not again
    assert not spend.has_data and not spend.today_has_cost


def test_uncounted_rows_ride_along_with_levels_and_a_clean_day_claims_nothing_extra():
    periods = periods_at(NOW, UTC)
    dirty = summary(month_to_date=120.0, today_invalid_cost_rows=1)
    decision = budget_decision(dirty, forecast_month_end(120.0, 0.0, periods), "2026-03-01", today=date(2026, 3, 14))
    assert decision.highest is AlertLevel.WARNING and decision.keys[-1] == f"{UNCOUNTED_PREFIX}2026-03-14"
    clean = summary(month_to_date=120.0)
    assert budget_decision(
        clean, forecast_month_end(120.0, 0.0, periods), "2026-03-01", today=date(2026, 3, 14)
    ).keys == (
        "info",
        "warning",
    )


@pytest.mark.parametrize(("cost", "requests"), [(None, 5), (None, 0), (3.0, 0)])
def test_a_day_without_a_cost_is_no_data(cost, requests):
    assert daily_verdict(cost, requests) is DailyVerdict.NO_DATA


@pytest.mark.parametrize(
    ("value", "as_float", "as_int"),
    [
        (600, 600.0, 600),
        ("600", 600.0, 600),
        (3.0, 3.0, 3),
        (2.5, 2.5, None),  # not a whole number: unknown, never truncated to 2
        ("abc", None, None),
        (None, None, None),
        (float("nan"), None, None),
        (float("inf"), None, None),  # JSON's 1e400 or Infinity
        ("-Infinity", None, None),
        pytest.param(10**400, None, 10**400, id="10**400"),  # an exact int stays exact; as a float too large
    ],
)
def test_numbers_from_outside_answers_are_finite_or_unknown(value, as_float, as_int):
    assert float_or_none(value) == as_float
    assert int_or_none(value) == as_int
