from vast_pipelines.policy.outbox import Expired, digest, max_age_seconds, max_ages
from vast_pipelines.policy.thresholds import GUIDE, Thresholds


def test_reports_wait_a_day_alerts_hours_and_both_are_configurable():
    ages = max_ages(GUIDE)
    assert max_age_seconds("weekly", ages) == 24 * 3600 and max_age_seconds("health_check", ages) == 24 * 3600
    assert max_age_seconds("budget_emergency", ages) == 6 * 3600 and max_age_seconds("service_down", ages) == 6 * 3600
    assert max_age_seconds("service_down", max_ages(Thresholds(alert_max_age_hours=2))) == 7200


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
