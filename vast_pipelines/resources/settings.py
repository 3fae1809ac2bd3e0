"""The runbook's settings: timezone, the guide's thresholds and the emergency switches, overridable in one place.

Each environment variable becomes a typed value through pydantic (a zone, floats for money, seconds and shares,
ints for counts, a literal for a switch), or an error that names the variable, its value and a valid example.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from vast_pipelines.domain.emergency import ShutdownMode
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.errors import OperatorError

THRESHOLD_NAMES = tuple(f.name for f in dataclasses.fields(Thresholds))
THRESHOLDS_EXAMPLE = "VAST_PIPELINES_THRESHOLDS=hard_cap=300,runaway_daily=80"


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


# A switch that holds the kill switch is never guessed: these words, in any case, and nothing else.
_ACTIONS = TypeAdapter(Annotated[Literal["apply", "dry-run"], BeforeValidator(_lower)])
_SHUTDOWN = TypeAdapter(Annotated[ShutdownMode, BeforeValidator(_lower)])
_ZONE = TypeAdapter(ZoneInfo)
_NUMBER = TypeAdapter(float)
# The thresholds as their value type declares them: floats, and ints for the counts.
_THRESHOLDS = TypeAdapter(Thresholds)


# --- What a sensible set of thresholds is (checked when the code location loads, and when a run reads them) --

# Shares of something: above 0, at most 1.
RATIOS = frozenset(
    {
        "cold_start_rate",
        "saving_batching",
        "saving_caching",
        "saving_cheaper_gpu",
        "saving_quantization",
        "reconcile_share",
    }
)
# Whole numbers of checks, days, weeks or workers, 1 or more: the fields the value type declares as ints.
COUNTS = frozenset(name for name, kind in typing.get_type_hints(Thresholds).items() if kind is int)
# 0 has a meaning of its own ("use the endpoint's price").
ZERO_ALLOWED = frozenset({"gpu_hour_usd"})
# Pairs that must rise (lower, higher): a reversed pair would alert emergency before info.
ASCENDING: tuple[tuple[str, str], ...] = (
    ("alert_info", "alert_warning"),
    ("alert_warning", "alert_critical"),
    ("alert_critical", "alert_emergency"),
    ("budget_target", "hard_cap"),
    ("daily_excellent_below", "daily_moderate_below"),
    ("good_p50", "acceptable_p50"),
    ("good_p95", "acceptable_p95"),
    ("acceptable_p95", "investigate_p95"),
)


@dataclass(frozen=True)
class ThresholdProblem:
    """One threshold (or pair) that would make a check meaningless; ``rule`` is what it must be."""

    names: tuple[str, ...]
    values: tuple[float, ...]
    rule: str


def threshold_problems(t: Thresholds) -> list[ThresholdProblem]:
    """Every value that is not finite, not positive, out of range or out of order (empty when all is well).

    NaN compares false with everything and infinity is never reached: either would switch a check off silently,
    and a limit of 0 or below would shut the platform down at $0 spend.
    """
    problems: list[ThresholdProblem] = []
    for f in dataclasses.fields(t):
        value = getattr(t, f.name)
        if not math.isfinite(value):
            problems.append(ThresholdProblem((f.name,), (value,), "a finite number"))
        elif f.name in ZERO_ALLOWED:
            if value < 0:
                problems.append(ThresholdProblem((f.name,), (value,), "0 or more"))
        elif value <= 0:
            problems.append(ThresholdProblem((f.name,), (value,), "above 0"))
        elif f.name in RATIOS and value > 1:
            problems.append(ThresholdProblem((f.name,), (value,), "a share between 0 and 1"))
        elif f.name in COUNTS and value != int(value):
            problems.append(ThresholdProblem((f.name,), (value,), "a whole number, 1 or more"))
    if problems:
        return problems
    for lower, higher in ASCENDING:
        if getattr(t, lower) >= getattr(t, higher):
            problems.append(
                ThresholdProblem((lower, higher), (getattr(t, lower), getattr(t, higher)), f"{lower} below {higher}")
            )
    if t.runaway_daily > t.hard_cap:
        problems.append(
            ThresholdProblem(
                ("runaway_daily", "hard_cap"),
                (t.runaway_daily, t.hard_cap),
                "runaway_daily (a day) at most hard_cap (a month)",
            )
        )
    return problems


# --- The variables ---------------------------------------------------------------------------------------------


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
            result[name.strip()] = _NUMBER.validate_python(value)
        except (ValueError, ValidationError):
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
    given = dataclasses.replace(GUIDE, **overrides)
    problems = threshold_problems(given)
    if problems:
        said = "; ".join(
            f"{' and '.join(f'{n}={v:g}' for n, v in zip(p.names, p.values, strict=True))} must be {p.rule}"
            for p in problems
        )
        raise OperatorError(f"VAST_PIPELINES_THRESHOLDS={text!r}: {said}. Example: {THRESHOLDS_EXAMPLE}")
    return _THRESHOLDS.validate_python(dataclasses.asdict(given))


def parse_actions(value: str) -> bool:
    """VAST_EMERGENCY_ACTIONS: ``apply`` (True) or ``dry-run`` (False), in any case and nothing else: a switch
    that holds the kill switch is never guessed."""
    try:
        return _ACTIONS.validate_python(value) == "apply"
    except ValidationError:
        raise OperatorError(
            f"VAST_EMERGENCY_ACTIONS={value!r} is neither 'apply' nor 'dry-run'. "
            "Example: VAST_EMERGENCY_ACTIONS=dry-run (report what would be done) or VAST_EMERGENCY_ACTIONS=apply"
        ) from None


def parse_shutdown(value: str) -> ShutdownMode:
    """VAST_EMERGENCY_SHUTDOWN: ``stop`` or ``delete``, in any case and nothing else."""
    try:
        return _SHUTDOWN.validate_python(value)
    except ValidationError:
        raise OperatorError(
            f"VAST_EMERGENCY_SHUTDOWN={value!r} is neither 'stop' nor 'delete'. "
            "Example: VAST_EMERGENCY_SHUTDOWN=stop (restore_service can undo it) or VAST_EMERGENCY_SHUTDOWN=delete"
        ) from None


def load_timezone(name: str) -> ZoneInfo:
    """The IANA zone, or an error naming VAST_PIPELINES_TIMEZONE."""
    try:
        return _ZONE.validate_python(name)
    except ValidationError:
        raise OperatorError(
            f"VAST_PIPELINES_TIMEZONE={name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
        ) from None


class RunbookSettings(dg.ConfigurableResource):
    """Timezone of day/week/month boundaries and overrides of the guide's thresholds.

    The fields hold the variables' text as set (Dagster resolves ``EnvVar`` to text); the typed values are read
    from them when a run or tick asks, so a bad value fails that run or tick with its variable named.
    """

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
