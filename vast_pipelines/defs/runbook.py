"""What every judgement reads from the runbook's settings, read one way: the operator's time zone and thresholds."""

from zoneinfo import ZoneInfo

from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.resources.settings import RunbookSettings


def zone_and_limits(settings: RunbookSettings) -> tuple[ZoneInfo, Thresholds]:
    """The time zone of day, week and month boundaries, and the guide's thresholds with this deployment's
    overrides; a bad value fails here, naming its variable."""
    return settings.tz(), settings.limits()
