"""What a sensor does when a system it needs is down: skip the tick with the reason, and try again."""

import functools
from collections.abc import Callable
from typing import Any

import dagster as dg

from vast_pipelines.resources.errors import OperatorError


def skip_when_unavailable(sensor_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an operator-facing failure (database down, table missing, setting unset) into a skipped tick.

    The state that makes alerts exactly-once lives in the database, so a skipped tick loses nothing: the next
    tick that reaches the database sends what is due. Dagster still shows every skip and its reason.
    """

    @functools.wraps(sensor_fn)
    def guarded(context: dg.SensorEvaluationContext, *args: Any, **kwargs: Any) -> Any:
        try:
            return sensor_fn(context, *args, **kwargs)
        except OperatorError as exc:
            context.log.warning(f"{sensor_fn.__name__} skipped this tick: {exc}")
            return dg.SkipReason(f"Skipped, will retry next tick: {exc}")

    return guarded
