"""A guide "worker"'s settings in Vast.ai's own fields: read from Vast.ai, checked, compared and changed.

Vast.ai's serverless engine keeps its scaling settings on the endpoint (``min_load``, ``min_cold_load``,
``cold_workers``, ``max_workers``, ``target_util``, ``cold_mult``, ``inactivity_timeout``) and the GPU in each
worker group's offer query (``search_params``, e.g. ``gpu_name=RTX_4090 verified=True``). What they mean
(Vast.ai's "Endpoint Parameters" and "Managing Scale" guides):

- ``min_load``: the load (perf units per second, tokens/s for an LLM) the engine keeps *active* capacity for,
  whatever the traffic. Above zero keeps at least one worker running; ``0`` lets it scale to zero active
  workers once ``inactivity_timeout`` seconds pass without traffic.
- ``cold_workers``: workers kept *stopped* with the model loaded: a quicker cold start, still a cold start.
  (Vast.ai's console calls this "Minimum Workers"; it is not what the guide's ``min_workers`` means.)

The guide's own words for them (``idle_timeout``, ``min_workers``, ...) map onto these fields in
:mod:`.guide_words`, and nowhere else.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vast_pipelines.domain.numbers import float_or_none, int_or_none

# The endpoint's scaling fields, as Vast.ai names them (vastai create/update endpoint).
ENDPOINT_FIELDS = (
    "min_load",
    "min_cold_load",
    "cold_workers",
    "max_workers",
    "target_util",
    "cold_mult",
    "inactivity_timeout",
)
# The worker group's field this project changes: the GPU offer query.
WORKERGROUP_FIELDS = ("search_params",)
SETTING_NAMES = ENDPOINT_FIELDS + WORKERGROUP_FIELDS

MAX_INACTIVITY_TIMEOUT = 86_400
_GPU_TOKEN = re.compile(r"^gpu_name={1,2}(?P<gpu>\S+)$")


@dataclass(frozen=True)
class WorkerSettings:
    """A worker's settings in Vast.ai's fields; ``None`` means not given (or not known)."""

    min_load: float | None = None
    min_cold_load: float | None = None
    cold_workers: int | None = None
    max_workers: int | None = None
    target_util: float | None = None
    cold_mult: float | None = None
    inactivity_timeout: int | None = None
    search_params: str | None = None

    def given(self) -> dict[str, Any]:
        """The fields that are set, in Vast.ai's order."""
        return {name: getattr(self, name) for name in SETTING_NAMES if getattr(self, name) is not None}

    def endpoint_fields(self) -> dict[str, Any]:
        """The given fields that live on the endpoint."""
        return {k: v for k, v in self.given().items() if k in ENDPOINT_FIELDS}


# What deploy_model sets besides the guide's words (``GUIDE_DEPLOY``): Vast.ai's defaults as vast-cli sends them,
# and one stopped worker with the model loaded, so a cold start is the guide's "10-30s", not a fresh instance.
DEPLOY_DEFAULTS = WorkerSettings(min_cold_load=0.0, cold_workers=1, target_util=0.9, cold_mult=2.5)


def gpu_from_search_params(search_params: str | None) -> str | None:
    """The ``gpu_name`` an offer query asks for, or None."""
    for token in (search_params or "").split():
        match = _GPU_TOKEN.match(token)
        if match:
            return match.group("gpu").strip("\"'")
    return None


def with_gpu(search_params: str | None, gpu_type: str) -> str:
    """``search_params`` asking for ``gpu_type``; every other filter kept in place."""
    tokens = (search_params or "").split()
    replaced = False
    for i, token in enumerate(tokens):
        if _GPU_TOKEN.match(token):
            tokens[i] = f"gpu_name={gpu_type}"
            replaced = True
    if not replaced:
        tokens.insert(0, f"gpu_name={gpu_type}")
    return " ".join(tokens)


def group_query(group: Mapping[str, Any]) -> str | None:
    """A worker group's offer query. Vast.ai's update body calls it ``search_params``; its REST reference shows
    the listed group with ``search_query``: the first one present is read."""
    value = group.get("search_params", group.get("search_query"))
    return None if value is None else str(value)


def from_vast(endpoint: Mapping[str, Any], group_queries: Iterable[str | None] = ()) -> WorkerSettings:
    """The settings of an endpoint (its fields) and its worker groups (their offer queries; several different
    ones read ``q1; q2``)."""
    queries = sorted({q for q in group_queries if q})
    return WorkerSettings(
        min_load=float_or_none(endpoint.get("min_load")),
        min_cold_load=float_or_none(endpoint.get("min_cold_load")),
        cold_workers=int_or_none(endpoint.get("cold_workers")),
        max_workers=int_or_none(endpoint.get("max_workers")),
        target_util=float_or_none(endpoint.get("target_util")),
        cold_mult=float_or_none(endpoint.get("cold_mult")),
        inactivity_timeout=int_or_none(endpoint.get("inactivity_timeout")),
        search_params="; ".join(queries) or None,
    )


def merged(current: WorkerSettings, wanted: WorkerSettings) -> WorkerSettings:
    """``current`` with every field ``wanted`` gives."""
    return dataclasses.replace(current, **wanted.given())


def settings_problems(settings: WorkerSettings) -> list[str]:
    """What is wrong with these settings, each naming the field; empty when they are valid."""
    s = settings
    problems = []
    for name in ("min_load", "min_cold_load", "cold_mult"):
        value = getattr(s, name)
        if value is not None and value < 0:
            problems.append(f"{name} must be 0 or more (got {value})")
    if s.cold_workers is not None and s.cold_workers < 0:
        problems.append(f"cold_workers must be 0 or more (got {s.cold_workers})")
    if s.max_workers is not None and s.max_workers < 1:
        problems.append(f"max_workers must be at least 1 (got {s.max_workers})")
    if s.target_util is not None and not 0 < s.target_util <= 1:
        problems.append(f"target_util must be above 0 and at most 1 (got {s.target_util})")
    idle = s.inactivity_timeout
    if idle is not None and not 0 <= idle <= MAX_INACTIVITY_TIMEOUT:
        problems.append(f"inactivity_timeout must be between 0 and {MAX_INACTIVITY_TIMEOUT} seconds (got {idle})")
    if (
        s.cold_workers is not None
        and s.max_workers is not None
        and s.max_workers >= 1
        and s.cold_workers > s.max_workers
    ):
        problems.append(f"cold_workers ({s.cold_workers}) cannot exceed max_workers ({s.max_workers})")
    if s.search_params is not None and not s.search_params.strip():
        problems.append("search_params must not be empty (e.g. gpu_name=RTX_4090 verified=True rentable=True)")
    return problems


@dataclass(frozen=True)
class Change:
    """One field's value before and after (Vast.ai names)."""

    name: str
    before: Any
    after: Any


def changes(current: WorkerSettings, wanted: WorkerSettings) -> tuple[Change, ...]:
    """The fields ``wanted`` gives that differ from ``current``, in Vast.ai's order."""
    return tuple(
        Change(name, getattr(current, name), value)
        for name, value in wanted.given().items()
        if getattr(current, name) != value
    )
