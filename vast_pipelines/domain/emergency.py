"""The emergency shutdown's settings and records: how endpoints are shut down, and how each step went."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ShutdownMode(StrEnum):
    """How endpoints are shut down: ``stopped`` (restore_service can undo it) or deleted, as the guide does."""

    STOP = "stop"
    DELETE = "delete"


@dataclass(frozen=True)
class StepResult:
    """The outcome of one step of the emergency or restore procedure.

    ``planned`` are the exact calls a dry run would have made; ``error`` says what failed and what to fix;
    ``warning`` is what an operator should finish by hand although the step did not fail.
    """

    step: str
    ok: bool
    summary: str
    details: tuple[str, ...] = ()
    planned: tuple[str, ...] = ()
    error: str | None = None
    state: dict = field(default_factory=dict)
    warning: str | None = None


def failed(steps: list[StepResult] | tuple[StepResult, ...]) -> list[StepResult]:
    """The steps that failed, in order."""
    return [step for step in steps if not step.ok]
