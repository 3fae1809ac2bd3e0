from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from vast_pipelines.defs.costs.review_runs import ReviewConfig, should_post
from vast_pipelines.domain.costs import CostTotals, HistoryRow, LatencySummary, Percentiles
from vast_pipelines.domain.thresholds import GUIDE
from vast_pipelines.policy.costs import DayCost, daily_costs, first_day_reaching, model_costs
from vast_pipelines.policy.recommendations import cold_start_economics, optimization_plan, weekly_opportunities
from vast_pipelines.policy.reviews import monthly_review, weekly_history_range, weekly_review
from vast_pipelines.policy.spend import BudgetVerdict, budget_verdict
from vast_pipelines.policy.troubleshooting import LatencyVerdict, latency_fixes, latency_verdict
from vast_pipelines.reports.concerns import concern_lines
from vast_pipelines.reports.figures import round_money
from vast_pipelines.reports.recommendations import reason

UTC = ZoneInfo("UTC")


def totals(cost: str | None, requests: int = 10, **more) -> CostTotals:
    return CostTotals(requests=requests, cost=Decimal(cost) if cost is not None else None, **more)


def week_of(costs: list[str | None], requests: int = 200, first: date = date(2026, 6, 1), **more) -> list[DayCost]:
    return [
        DayCost(first + timedelta(days=i), totals(c, requests if c is not None else 0, **more), True)
        for i, c in enumerate(costs)
    ]


@pytest.mark.parametrize(
    ("cost", "requests", "verdict"),
    [
        ("99.99", 10, BudgetVerdict.ON_TARGET),
        ("100", 10, BudgetVerdict.ACCEPTABLE),
        ("150", 10, BudgetVerdict.ACCEPTABLE),
        ("150.01", 10, BudgetVerdict.OVER_BUDGET),
        ("0", 10, BudgetVerdict.ON_TARGET),
        (None, 10, BudgetVerdict.NO_DATA),  # every request without a cost
        ("0", 0, BudgetVerdict.NO_DATA),
    ],
)
def test_budget_verdict_uses_the_guides_bands(cost, requests, verdict):
    assert budget_verdict(totals(cost, requests)) is verdict


@pytest.mark.parametrize(
    ("p50", "p95", "verdict"),
    [
        (1.9, 4.9, LatencyVerdict.GOOD),
        (2.0, 4.0, LatencyVerdict.ACCEPTABLE),
        (4.9, 9.9, LatencyVerdict.ACCEPTABLE),
        (3.0, 15.0, LatencyVerdict.SLOW),  # between the guide's acceptable and investigate lines
        (5.0, 12.0, LatencyVerdict.SLOW),
        (5.1, 6.0, LatencyVerdict.INVESTIGATE),
        (1.0, 20.1, LatencyVerdict.INVESTIGATE),
        (None, None, LatencyVerdict.NO_DATA),
    ],
)
def test_latency_verdict_uses_the_guides_bands(p50, p95, verdict):
    assert latency_verdict(Percentiles(p50, p95, None)) is verdict


def summary(rate: float, warm_p50: float) -> LatencySummary:
    return LatencySummary(
        100, 100, int(rate * 100), rate, Percentiles(3, 8, 9), Percentiles(warm_p50, 6, 7), Percentiles()
    )


@pytest.mark.parametrize(
    ("rate", "warm_p50", "fields"),
    [
        (0.2, 4.9, set()),  # at the line is not above it
        (0.21, 1.0, {"inactivity_timeout", "min_load"}),
        (0.1, 5.1, {"gpu_type"}),
    ],
)
def test_latency_fixes_follow_the_guide(rate, warm_p50, fields):
    assert {f.field for f in latency_fixes(summary(rate, warm_p50))} == fields


def test_a_quiet_healthy_week_has_no_opportunities():
    days = week_of(["3.00"] * 7, requests=500, cold_start_requests=50)
    assert weekly_opportunities(days, sum((d.totals for d in days), CostTotals())) == []


def test_high_days_many_cold_starts_and_low_usage_each_name_their_fix():
    days = week_of(["12.00", "1.00", None, None, None, None, None], requests=20, cold_start_requests=10)
    week = sum((d.totals for d in days), CostTotals())
    found = {r.action: r for r in weekly_opportunities(days, week)}
    assert found["implement_batching"].estimated_saving_usd == pytest.approx(13.0 * 0.8)
    assert found["add_caching"].estimated_saving_usd == pytest.approx(13.0 * 0.5)
    assert (found["increase_idle_timeout"].field, found["increase_idle_timeout"].suggested_value) == (
        "inactivity_timeout",
        600,
    )
    assert (found["reduce_max_workers"].field, found["reduce_max_workers"].suggested_value) == ("max_workers", 1)
    assert "6 requests/day" in reason(found["reduce_max_workers"])  # 40 requests over 7 observed days


def test_the_plan_is_only_for_an_over_budget_month_and_prices_each_item():
    assert optimization_plan(totals("150")) == []
    plan = optimization_plan(totals("200"))
    assert [(r.action, r.estimated_saving_usd) for r in plan] == [
        ("implement_batching", pytest.approx(160.0)),
        ("add_caching", pytest.approx(100.0)),
        ("use_cheaper_gpu", pytest.approx(200.0 * GUIDE.saving_cheaper_gpu)),
        ("quantize_models", pytest.approx(200.0 * GUIDE.saving_quantization)),
    ]
    assert "$100.00 must go" in reason(plan[0])


def test_cold_start_economics_split_cost_and_time():
    model = CostTotals(
        requests=10,
        cost=Decimal("2.00"),
        cold_start_requests=2,
        cold_start_cost=Decimal("1.00"),
        cold_start_costed_requests=2,
        duration_sum=100.0,
        duration_count=10,
        cold_duration_sum=60.0,
        cold_duration_count=2,
    )
    [economics] = cold_start_economics(
        model_costs([HistoryRow(date(2026, 6, 1), "m", model)], date(2026, 6, 1), date(2026, 6, 2))
    )
    assert economics.cold_cost_share == pytest.approx(0.5) and economics.cold_duration_share == pytest.approx(0.6)
    assert economics.cold_start_rate == pytest.approx(0.2)
    assert economics.overhead_usd == pytest.approx(1.00 - 2 * 0.125)  # warm requests cost $0.125 each


def test_totals_keep_unknown_cost_apart_from_zero():
    assert (CostTotals() + totals(None, 3)).cost is None
    assert (totals("1.5") + totals(None, 3)).cost == Decimal("1.5")
    assert totals(None, 3).cost_per_request is None and not totals(None, 3).has_cost
    assert totals("1", 4).cost_per_request == Decimal("0.25")


@pytest.mark.parametrize(
    ("value", "places", "shown"), [("2.345", 2, "2.35"), ("-2.345", 2, "-2.35"), ("0.000015", 5, "0.00002")]
)
def test_money_rounds_half_away_from_zero_like_postgres(value, places, shown):
    assert str(round_money(Decimal(value), places)) == shown


def test_days_without_rows_are_empty_and_flagged_when_not_rolled_up():
    rows = [HistoryRow(date(2026, 6, 2), "m", totals("1"))]
    days = daily_costs(rows, {date(2026, 6, 1), date(2026, 6, 2)}, date(2026, 6, 1), date(2026, 6, 4))
    assert [(d.day.day, d.has_data, d.rolled_up) for d in days] == [
        (1, False, True),
        (2, True, True),
        (3, False, False),
    ]


def test_weekly_review_forecasts_the_month_from_the_history():
    first = date(2026, 6, 1)
    rows = [HistoryRow(first + timedelta(days=i), "m", totals("10")) for i in range(14)]
    rolled = {first + timedelta(days=i) for i in range(14)}
    review = weekly_review(rows, rolled, date(2026, 6, 8), UTC)
    assert weekly_history_range(date(2026, 6, 8)) == (date(2026, 6, 1), date(2026, 6, 15))
    assert review.forecast is not None
    # $140 by the end of 14 June, $10/day over the 16 days left: $200 reached as 21 June begins.
    assert review.forecast.month_to_date == pytest.approx(140.0) and review.forecast.month_end == pytest.approx(300.0)
    assert review.forecast.hard_cap_date == date(2026, 6, 21)
    assert review.previous is not None and review.previous.cost == Decimal("70")
    assert review.hard_cap_reached_on is None and any("hit on 2026-06-21" in c for c in concern_lines(review))


def test_weekly_review_says_when_the_cap_was_already_reached():
    rows = [HistoryRow(date(2026, 6, 1) + timedelta(days=i), "m", totals("30")) for i in range(14)]
    review = weekly_review(rows, {r.day for r in rows}, date(2026, 6, 8), UTC)
    assert review.hard_cap_reached_on == date(2026, 6, 7)  # $210 by the end of 7 June
    assert "The $200 hard cap was reached on 2026-06-07" in concern_lines(review)


def test_monthly_review_names_when_target_and_cap_were_reached():
    rows = [HistoryRow(date(2026, 2, 1) + timedelta(days=i), "m", totals("10")) for i in range(28)]
    review = monthly_review(rows, {r.day for r in rows}, date(2026, 2, 1), UTC)
    assert review.totals.cost == Decimal("280") and review.budget is BudgetVerdict.OVER_BUDGET
    assert review.target_reached_on == date(2026, 2, 10) and review.hard_cap_reached_on == date(2026, 2, 20)
    assert review.previous is None  # January is not in the history
    assert first_day_reaching(review.days, 1000) is None


@pytest.mark.parametrize(
    ("configured", "key", "latest", "posted"),
    [
        (None, "2026-06-01", "2026-06-01", True),
        (None, "2026-05-25", "2026-06-01", False),
        (True, "2026-05-25", "2026-06-01", True),
        (False, "2026-06-01", "2026-06-01", False),
    ],
)
def test_only_the_latest_period_is_posted_unless_asked(configured, key, latest, posted):
    assert should_post(ReviewConfig(post_to_slack=configured), key, latest) is posted
