from vast_pipelines.domain.outbox import Expired, digest
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.outbox import max_ages


def test_reports_wait_a_day_alerts_hours_and_both_are_configurable():
    ages = max_ages(GUIDE)
    assert (ages.report_seconds, ages.alert_seconds) == (24 * 3600, 6 * 3600)
    assert {"weekly", "health_check"} <= set(ages.report_kinds)
    assert not {"budget_emergency", "service_down"} & set(ages.report_kinds)
    assert max_ages(Thresholds(alert_max_age_hours=2)).alert_seconds == 7200


def test_the_digest_counts_by_kind_and_names_the_oldest():
    found = digest(
        [
            Expired(3, "service_down", "slack", 100.0),
            Expired(9, "weekly", "slack", 900.0),
            Expired(5, "service_down", "email", 50.0),
        ]
    )
    assert found.count == 3 and found.by_kind == (("service_down", 2), ("weekly", 1))
    assert (found.first_id, found.last_id, found.oldest_seconds) == (3, 9, 900.0)
    assert digest([]) is None


def test_an_emergency_key_is_done_only_when_a_run_completed():
    from datetime import UTC, datetime, timedelta

    from vast_pipelines.policy.emergency_runs import KeyState, Memory, RunHistory, backoff, key_state, run_key

    now = datetime(2026, 3, 14, tzinfo=UTC)
    assert key_state(RunHistory(succeeded=1, failed=2), Memory(), now)[0] is KeyState.DONE
    assert key_state(RunHistory(in_progress=1), Memory(), now)[0] is KeyState.RUNNING
    assert key_state(RunHistory(failed=4), Memory(), now)[0] is KeyState.GAVE_UP
    state, memory = key_state(RunHistory(failed=1), Memory(0, now, 0, None), now)
    assert state is KeyState.BACKING_OFF and memory.retry_at == now + timedelta(minutes=1)
    assert key_state(RunHistory(failed=1), memory, now + timedelta(minutes=1))[0] is KeyState.DUE
    assert key_state(RunHistory(), Memory(0, now, 0, None), now + timedelta(minutes=5))[0] is KeyState.REQUESTED
    assert key_state(RunHistory(), Memory(0, now, 0, None), now + timedelta(minutes=11))[0] is KeyState.DUE
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 9)] == [60, 120, 240, 900]
    assert (run_key("runaway:2026-03-14", 0), run_key("hard_cap:2026-03", 2)) == (
        "runaway:2026-03-14",
        "hard_cap:2026-03:retry2",
    )
