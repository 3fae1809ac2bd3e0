"""A sensor's verdict in its asset's history, recorded only when it changes: the history is a list of changes, not
a row per tick."""

import json
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

AssetEvent = dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckEvaluation


def record_changes(
    cursor: str | None, verdict: Any, events: Callable[[], Sequence[AssetEvent]]
) -> tuple[list[AssetEvent], str]:
    """The tick's asset events and the sensor's next cursor: ``events()`` when ``verdict`` (anything JSON can
    write) differs from the one last recorded, kept in ``cursor``, or when nothing was recorded yet; else none.

    The daemon stores a tick's asset events before its cursor; a tick that fails returns neither, so the next
    tick that judges records the change.
    """
    state = json.dumps(verdict, sort_keys=True)
    return ([] if state == cursor else list(events())), state
