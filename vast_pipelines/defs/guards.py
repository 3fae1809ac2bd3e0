"""What a sensor does when a system it needs is down: a protection sensor fails red, the others skip with the reason."""

import functools
from collections.abc import Callable
from typing import Any

import dagster as dg

from vast_pipelines.errors import OperatorError
from vast_pipelines.resources.database import tick_limits


class CannotJudge(OperatorError):
    """A protection sensor could not read what it judges by (spend, configuration, the database)."""


def _guarded(sensor_fn: Callable[..., Any], on_failure: Callable[[dg.SensorEvaluationContext, OperatorError], Any]):
    """``sensor_fn`` under the tick's statement limits, an operator-facing failure handed to ``on_failure``."""

    @functools.wraps(sensor_fn)
    def guarded(context: dg.SensorEvaluationContext, *args: Any, **kwargs: Any) -> Any:
        try:
            with tick_limits():
                return sensor_fn(context, *args, **kwargs)
        except OperatorError as exc:
            return on_failure(context, exc)

    return guarded


def skip_when_unavailable(sensor_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an operator-facing failure (database down, table missing, setting unset) into a skipped tick.

    The state that makes alerts exactly-once lives in the database, so a skipped tick loses nothing: the next
    tick that reaches the database sends what is due. Dagster still shows every skip and its reason.
    """

    def skip(context: dg.SensorEvaluationContext, exc: OperatorError) -> dg.SkipReason:
        context.log.warning(f"{sensor_fn.__name__} skipped this tick: {exc}")
        return dg.SkipReason(f"Skipped, will retry next tick: {exc}")

    return _guarded(sensor_fn, skip)


def fail_when_blind(sensor_fn: Callable[..., Any]) -> Callable[..., Any]:
    """A protection sensor (runaway, budget, outage) that cannot judge fails its tick, red, with the reason.

    A skipped tick means "looked, nothing to do"; a check that could not look must not look like one, or a
    database down for a day would be a day of grey ticks while spend runs away. Statements run under the tick's
    timeouts (``tick_limits``), so a lock held elsewhere fails the tick in seconds, not at Dagster's 60 s limit.
    The next tick tries again; the state that makes alerts exactly-once lives in the database, so nothing is lost.
    """

    def fail(context: dg.SensorEvaluationContext, exc: OperatorError) -> None:
        context.log.error(f"{sensor_fn.__name__} could not judge this tick: {exc}")
        raise CannotJudge(f"{sensor_fn.__name__} could not judge this tick: {exc}") from None

    return _guarded(sensor_fn, fail)
