from datetime import UTC, date, datetime, timedelta

import pytest

from vast_pipelines.policy.anomalies import judge, robust_score
from vast_pipelines.policy.freshness import judge_freshness, needs_same_hour_counts, same_hour_windows
from vast_pipelines.policy.idle_timeout import cheapest_within, grid, replay
from vast_pipelines.policy.reconcile import reconcile_day
from vast_pipelines.reports.insights import anomaly_line, freshness_reason
from vast_pipelines.reports.what_if import PRICE_SOURCES

EVERY_4_MIN = [i * 240.0 for i in range(100)]
ONE_SECOND = [1.0] * 100


def test_requests_every_4_minutes_are_all_warm_at_5_minutes_and_all_cold_at_3():
    # Known by hand: after a 1 s request the next one comes 239 s later.
    five = replay(EVERY_4_MIN, ONE_SECOND, idle_timeout=300)
    three = replay(EVERY_4_MIN, ONE_SECOND, idle_timeout=180)
    assert (five.cold_starts, five.judged_requests, five.cold_start_rate) == (0, 99, 0.0)
    assert (three.cold_starts, three.cold_start_rate) == (99, 1.0)
    assert five.warm_seconds == pytest.approx(99 * 240 + 1 + 300)
    assert three.warm_seconds == pytest.approx(100 * (1 + 180))


def test_min_workers_one_never_cold_starts_and_keeps_the_whole_span_warm():
    r = replay(EVERY_4_MIN, ONE_SECOND, idle_timeout=60, min_workers=1)
    assert r.cold_starts == 0 and r.warm_seconds == pytest.approx(99 * 240 + 1 + 60)


def test_recommendation_is_the_cheapest_setting_within_the_cold_start_limit():
    replays = grid(EVERY_4_MIN, ONE_SECOND, window_seconds=86400)  # a day of analysis
    best = cheapest_within(replays, max_cold_start_rate=0.2, usd_per_gpu_hour=0.40)
    assert (best.idle_timeout, best.min_workers) == (300, 0)
    always_on = next(r for r in replays if r.min_workers == 1)
    assert always_on.warm_seconds == 86400 and always_on.cost(0.40) == pytest.approx(9.60)
    assert cheapest_within(replays, max_cold_start_rate=-1, usd_per_gpu_hour=0.4) is None


def test_bursty_trace_trades_warm_hours_for_cold_starts():
    bursts = [h * 3600.0 + s for h in range(10) for s in (0, 10, 20)]  # three requests an hour
    durations = [2.0] * len(bursts)
    short, long = replay(bursts, durations, 60), replay(bursts, durations, 1800)
    assert short.cold_starts == 9 and long.cold_starts == 9  # an hour apart: cold either way
    assert short.warm_seconds < long.warm_seconds
    assert replay([], [], 300).cold_start_rate is None


def test_robust_score_ignores_one_outlier_in_the_history():
    score, median = robust_score(10.0, [2.0, 2.1, 1.9, 2.0, 40.0])
    assert median == 2.0 and score > 20


@pytest.mark.parametrize(
    ("cost", "requests", "driver"),
    [(20.0, 4000, "requests up"), (20.0, 1000, "cost per request up")],
)
def test_anomalies_name_their_driver(cost, requests, driver):
    a = judge(cost, requests, cost_history=[4.0, 4.2, 3.9, 4.1], request_history=[1000, 1050, 980, 1010])
    assert a.flagged and a.driver == driver and a.baseline == pytest.approx(4.05)


def test_normal_days_and_short_histories_are_not_flagged():
    assert not judge(4.3, 1000, [4.0, 4.2, 3.9, 4.1], [1000] * 4).flagged
    assert not judge(100.0, 1000, [4.0, 4.2], [1000] * 2).flagged
    assert not judge(0.5, 10, [0.01, 0.01, 0.01], [1] * 3).flagged  # under a dollar: not worth waking anyone


NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def test_silent_table_during_busy_hours_is_stale():
    f = judge_freshness(NOW - timedelta(hours=3), NOW, same_hour_counts=[120, 130, 110, 125])
    assert f.stale and "3 h 00 min" in freshness_reason(f) and f.since == NOW - timedelta(hours=3)


def test_quiet_hours_that_are_always_quiet_are_not_stale():
    assert not judge_freshness(NOW - timedelta(hours=3), NOW, same_hour_counts=[0, 0, 1, 0]).stale
    assert not judge_freshness(NOW - timedelta(minutes=30), NOW, same_hour_counts=[500] * 4).stale
    assert judge_freshness(None, NOW, same_hour_counts=[]).stale


def test_reconciliation_flags_a_day_whose_log_misses_a_share_of_the_bill():
    ok = reconcile_day(date(2026, 11, 20), logged=9.6, billed=10.0)
    bad = reconcile_day(date(2026, 11, 21), logged=6.0, billed=10.0)
    assert not ok.diverged and ok.share == pytest.approx(0.04)
    assert bad.diverged and bad.difference == pytest.approx(4.0) and bad.share == pytest.approx(0.4)
    assert not reconcile_day(date(2026, 11, 22), logged=1.0, billed=None).diverged
    assert reconcile_day(date(2026, 11, 23), logged=2.0, billed=0.1).diverged  # tiny bill, large absolute gap


def test_comparison_windows_keep_the_local_hour_across_a_dst_change():
    from zoneinfo import ZoneInfo

    from vast_pipelines.policy.anomalies import comparison_windows

    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 4, 1, 14, 30, tzinfo=berlin)  # Wednesday; clocks went forward on 29 March
    windows = {(w.scope, w.weeks_back): w for w in comparison_windows(now, berlin, weeks=4)}
    assert len(windows) == 10
    assert windows[("today", 0)].start == datetime(2026, 4, 1, 0, 0, tzinfo=berlin)
    hour = windows[("this hour", 1)]
    assert (hour.start.astimezone(berlin).hour, hour.end.astimezone(berlin).minute) == (14, 30)
    assert hour.start.date() == date(2026, 3, 25) and hour.end - hour.start == timedelta(minutes=30)


def test_a_week_with_no_rows_at_all_is_no_baseline_but_a_quiet_model_is_zero():
    from vast_pipelines.policy.anomalies import judge_windows

    totals = {("today", 0, "a"): (20.0, 40), ("today", 0, "b"): (1.0, 1)}
    totals |= {("today", k, "a"): (4.0 + k / 10, 10) for k in (1, 2, 3)}
    [a, b] = judge_windows(totals, {"today": {0, 1, 2, 3}}, weeks=4, min_cost=1.0)
    assert a.anomaly.flagged and a.anomaly.driver == "requests up" and a.cost_history == (4.1, 4.2, 4.3)
    assert b.cost_history == (0.0, 0.0, 0.0) and b.anomaly.flagged  # new model, $1 where there was nothing
    [a, _] = judge_windows(totals, {"today": {0, 1}}, weeks=4)
    assert not a.anomaly.flagged and "needs 3" in anomaly_line(a)


def test_validation_compares_the_replay_with_the_logged_flags():
    from vast_pipelines.policy.idle_timeout import validate

    flags = [None] + [False] * 99
    assert validate(EVERY_4_MIN, ONE_SECOND, flags, 300, 0).error == 0.0
    assert validate(EVERY_4_MIN, ONE_SECOND, flags, 180, 0).error == 1.0
    assert validate(EVERY_4_MIN, ONE_SECOND, [None] * 100, 300, 0).error is None


@pytest.mark.parametrize(
    ("configured", "vast", "logged", "busy", "price", "source"),
    [
        (0.5, 0.4, 10.0, 3600.0, 0.5, "gpu_hour_usd"),
        (0.0, 0.4, 10.0, 3600.0, 0.4, "Vast.ai"),
        (0.0, None, 2.0, 7200.0, 1.0, "logged cost"),
        (0.0, None, None, 0.0, None, "unknown"),
    ],
)
def test_gpu_hour_price_prefers_configuration_then_vast_then_the_log(configured, vast, logged, busy, price, source):
    from vast_pipelines.policy.idle_timeout import gpu_hour_price

    got, where = gpu_hour_price(configured, vast, logged, busy)
    assert got == price and source in PRICE_SOURCES[where]


def test_reported_price_reads_vast_answers_leniently():
    from vast_pipelines.policy.idle_timeout import reported_price

    assert reported_price({"dph_total": "0.45"}) == 0.45
    assert reported_price({"dph": None}, {"price_per_hour": 0}, {"cost_per_hour": 0.3}) == 0.3
    assert reported_price({"endpoint_name": "x"}) is None


def test_backtest_fires_each_rule_once_at_the_minute_it_crossed():
    from vast_pipelines.policy.backtest import backtest, candidate_days

    def t(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=UTC)

    daily = [(date(2026, 3, 2), 55.0), (date(2026, 3, 3), 10.0), (date(2026, 3, 20), 50.0), (date(2026, 4, 1), 10.0)]
    assert candidate_days(daily) == [date(2026, 3, 2), date(2026, 3, 20)]
    intraday = {date(2026, 3, 2): [(t(2, 10), 30.0), (t(2, 15, 30), 25.0)]}
    ends = {d: datetime.combine(d + timedelta(days=1), datetime.min.time(), UTC) for d, _ in daily}
    fired = [(f.rule, f.at, f.spend) for f in backtest(daily, intraday, ends)]
    assert fired == [
        ("budget_info", t(2, 15, 30), 55.0),
        ("runaway", t(2, 15, 30), 55.0),
        ("budget_warning", ends[date(2026, 3, 20)], 115.0),
    ]


def test_past_weeks_are_counted_only_when_the_newest_request_is_older_than_the_gap():
    now = datetime(2026, 3, 18, 9, 30, tzinfo=UTC)
    gap = timedelta(hours=2)
    assert not needs_same_hour_counts(None, now, gap)  # never a row: stale whatever the past weeks say
    assert not needs_same_hour_counts(now - gap, now, gap)
    assert needs_same_hour_counts(now - gap - timedelta(seconds=1), now, gap)
    # Without the counts the verdict of a fresh or empty table is the same as with them.
    for latest in (None, now - timedelta(minutes=5), now - gap):
        counts = [40, 50, 45, 60]
        assert judge_freshness(latest, now, [], gap) == judge_freshness(latest, now, counts, gap)
    assert len(same_hour_windows(now, gap)) == 4
