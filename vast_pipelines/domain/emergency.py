"""The emergency procedures' settings and records: how endpoints are shut down, what each endpoint gets, and how
each step went."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# The key of a step's state that names the setting a dry run found missing (VAST_API_KEY, AGENT_ROUTER_ENV_FILE).
NOT_CONFIGURED = "not_configured"


class ShutdownMode(StrEnum):
    """How endpoints are shut down: ``stopped`` (restore_service can undo it) or deleted, as the guide does."""

    STOP = "stop"
    DELETE = "delete"


class Move(StrEnum):
    """What a procedure does to one endpoint."""

    ALREADY = "already"  # in the state the procedure wants: nothing to do
    LEAVE = "leave"  # stopped before the emergency: the way back leaves it stopped
    STOP = "stop"
    DELETE = "delete"
    RESUME = "resume"


@dataclass(frozen=True)
class EndpointMove:
    """One of the platform's endpoints (``id``, ``name``, ``state`` as Vast.ai lists it) and what is done to it;
    once carried out: the call a dry run would have made, whether it was gone meanwhile, or the error."""

    endpoint: dict[str, Any]
    move: Move
    planned: str | None = None
    gone: bool = False
    error: str | None = None

    @property
    def acts(self) -> bool:
        """Whether the move changes the endpoint (a dry run plans it instead)."""
        return self.move in (Move.STOP, Move.DELETE, Move.RESUME)

    @property
    def done(self) -> bool:
        """Whether the change was made."""
        return self.acts and self.planned is None and self.error is None


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
