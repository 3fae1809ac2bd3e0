"""The runbook's settings: timezone and the guide's thresholds, overridable in one place."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from pydantic import Field

from vast_pipelines.domain.emergency import ShutdownMode
from vast_pipelines.domain.thresholds import GUIDE, Thresholds, threshold_problems
from vast_pipelines.resources.errors import OperatorError

THRESHOLD_NAMES = tuple(f.name for f in dataclasses.fields(Thresholds))


THRESHOLDS_EXAMPLE = "VAST_PIPELINES_THRESHOLDS=hard_cap=300,runaway_daily=80"


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
                f"VAST_PIPELINES_THRESHOLDS={text!r}: {part.strip()!r} is not name=number. "
                f"Example: {THRESHOLDS_EXAMPLE}"
            ) from None
    return result


def parse_thresholds(text: str | None) -> Thresholds:
    """The guide's thresholds with the overrides of VAST_PIPELINES_THRESHOLDS, or one error naming every bad
    value: unknown names, values that are not finite or not positive, levels out of order."""
    overrides = parse_overrides(text)
    unknown = sorted(set(overrides) - set(THRESHOLD_NAMES))
    if unknown:
        raise OperatorError(
            f"VAST_PIPELINES_THRESHOLDS={text!r} names unknown threshold(s) {', '.join(unknown)}; "
            f"known: {', '.join(THRESHOLD_NAMES)}. Example: {THRESHOLDS_EXAMPLE}"
        )
    limits = dataclasses.replace(GUIDE, **overrides)
    problems = threshold_problems(limits)
    if problems:
        said = "; ".join(
            f"{' and '.join(f'{n}={v:g}' for n, v in zip(p.names, p.values, strict=True))} must be {p.rule}"
            for p in problems
        )
        raise OperatorError(f"VAST_PIPELINES_THRESHOLDS={text!r}: {said}. Example: {THRESHOLDS_EXAMPLE}")
    return limits


def parse_actions(value: str) -> bool:
    """VAST_EMERGENCY_ACTIONS: ``apply`` (True) or ``dry-run`` (False), in any case and nothing else: a switch
    that holds the kill switch is never guessed."""
    mode = value.lower()
    if mode not in ("apply", "dry-run"):
        raise OperatorError(
            f"VAST_EMERGENCY_ACTIONS={value!r} is neither 'apply' nor 'dry-run'. "
            "Example: VAST_EMERGENCY_ACTIONS=dry-run (report what would be done) or VAST_EMERGENCY_ACTIONS=apply"
        )
    return mode == "apply"


def parse_shutdown(value: str) -> ShutdownMode:
    """VAST_EMERGENCY_SHUTDOWN: ``stop`` or ``delete``, in any case and nothing else."""
    try:
        return ShutdownMode(value.lower())
    except ValueError:
        raise OperatorError(
            f"VAST_EMERGENCY_SHUTDOWN={value!r} is neither 'stop' nor 'delete'. "
            "Example: VAST_EMERGENCY_SHUTDOWN=stop (restore_service can undo it) or VAST_EMERGENCY_SHUTDOWN=delete"
        ) from None


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
        return parse_shutdown(self.emergency_shutdown)

    @property
    def apply_actions(self) -> bool:
        """Whether destructive actions are allowed (``VAST_EMERGENCY_ACTIONS=apply``)."""
        return parse_actions(self.emergency_actions)

    def tz(self) -> ZoneInfo:
        """The operator's time zone."""
        return load_timezone(self.timezone)

    def limits(self) -> Thresholds:
        """The guide's thresholds with this deployment's overrides."""
        return parse_thresholds(self.thresholds)
