"""The runbook's settings: timezone and the guide's thresholds, overridable in one place."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from pydantic import Field

from vast_pipelines.policy.emergency import ShutdownMode
from vast_pipelines.policy.thresholds import GUIDE, Thresholds
from vast_pipelines.resources.errors import OperatorError

THRESHOLD_NAMES = tuple(f.name for f in dataclasses.fields(Thresholds))


def parse_overrides(text: str | None) -> dict[str, float]:
    """``"hard_cap=300, runaway_daily=80"`` (VAST_PIPELINES_THRESHOLDS) as a dict; errors name the bad part."""
    result: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            result[name.strip()] = float(value)
        except ValueError:
            raise OperatorError(
                f"VAST_PIPELINES_THRESHOLDS: {part.strip()!r} is not name=number (e.g. hard_cap=300)"
            ) from None
    return result


def load_timezone(name: str) -> ZoneInfo:
    """The IANA zone, or an error naming VAST_PIPELINES_TIMEZONE."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OperatorError(
            f"VAST_PIPELINES_TIMEZONE={name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
        ) from None


class RunbookSettings(dg.ConfigurableResource):
    """Timezone of day/week/month boundaries and overrides of the guide's thresholds."""

    timezone: str = Field(default="UTC", description="VAST_PIPELINES_TIMEZONE")
    thresholds: str | None = Field(
        default=None,
        description="VAST_PIPELINES_THRESHOLDS: comma-separated name=value overrides of the guide's numbers, "
        f"names: {', '.join(THRESHOLD_NAMES)}",
    )

    emergency_actions: str = Field(
        default="dry-run",
        description="VAST_EMERGENCY_ACTIONS: 'apply' lets jobs change Vast.ai and the router; 'dry-run' only "
        "logs and reports the exact calls they would make.",
    )

    emergency_shutdown: str = Field(
        default="stop",
        description="VAST_EMERGENCY_SHUTDOWN: 'stop' sets the endpoints' endpoint_state to stopped (restore_service "
        "undoes it); 'delete' deletes them, as the guide does.",
    )

    @property
    def shutdown_mode(self) -> ShutdownMode:
        """How the emergency job shuts endpoints down (``VAST_EMERGENCY_SHUTDOWN``)."""
        try:
            return ShutdownMode(self.emergency_shutdown.strip().lower())
        except ValueError:
            raise OperatorError(
                f"VAST_EMERGENCY_SHUTDOWN={self.emergency_shutdown!r}: use 'stop' or 'delete'"
            ) from None

    @property
    def apply_actions(self) -> bool:
        """Whether destructive actions are allowed (``VAST_EMERGENCY_ACTIONS=apply``)."""
        mode = self.emergency_actions.strip().lower()
        if mode not in ("apply", "dry-run"):
            raise OperatorError(f"VAST_EMERGENCY_ACTIONS={self.emergency_actions!r}: use 'apply' or 'dry-run'")
        return mode == "apply"

    def tz(self) -> ZoneInfo:
        """The operator's time zone."""
        return load_timezone(self.timezone)

    def limits(self) -> Thresholds:
        """The guide's thresholds with this deployment's overrides."""
        overrides = parse_overrides(self.thresholds)
        unknown = sorted(set(overrides) - set(THRESHOLD_NAMES))
        if unknown:
            raise OperatorError(
                f"VAST_PIPELINES_THRESHOLDS names unknown threshold(s) {', '.join(unknown)}; "
                f"known: {', '.join(THRESHOLD_NAMES)}"
            )
        return dataclasses.replace(GUIDE, **overrides)
