"""A guide "worker"'s settings and their form in Vast.ai's serverless API.

The guide speaks of ``idle_timeout``, ``min_workers``, ``max_workers`` and ``gpu_type``; Vast.ai keeps
the first three on the endpoint (``inactivity_timeout``, ``cold_workers``, ``max_workers``) and the GPU
in each worker group's offer query (``search_params``, e.g. ``gpu_name=RTX_4090``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# guide field -> Vast.ai field; the GPU lives in the worker group's search_params.
VAST_FIELDS: dict[str, str] = {
    "idle_timeout": "inactivity_timeout",
    "min_workers": "cold_workers",
    "max_workers": "max_workers",
    "gpu_type": "search_params",
}
ENDPOINT_SETTINGS = ("idle_timeout", "min_workers", "max_workers")
SETTING_NAMES = tuple(VAST_FIELDS)

# vast-cli's default offer filter when it builds search_params itself.
DEFAULT_OFFER_FILTER = "verified=True rentable=True rented=False"
MAX_IDLE_TIMEOUT = 86_400
_GPU = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_GPU_TOKEN = re.compile(r"^gpu_name={1,2}(?P<gpu>\S+)$")


@dataclass(frozen=True)
class WorkerSettings:
    """The guide's worker settings; ``None`` means not given (or not known)."""

    idle_timeout: int | None = None
    min_workers: int | None = None
    max_workers: int | None = None
    gpu_type: str | None = None

    def given(self) -> dict[str, Any]:
        """The fields that are set, in the guide's order."""
        return {name: getattr(self, name) for name in SETTING_NAMES if getattr(self, name) is not None}


# The guide's "Deploy via Vast.ai API" body.
GUIDE_SETTINGS = WorkerSettings(idle_timeout=300, min_workers=0, max_workers=3, gpu_type="RTX_4090")


@dataclass(frozen=True)
class Change:
    """One setting's value before and after (guide names)."""

    name: str
    before: Any
    after: Any

    @property
    def vast_field(self) -> str:
        """The Vast.ai field this setting is stored in."""
        return VAST_FIELDS[self.name]


@dataclass(frozen=True)
class VastFields:
    """Worker settings in Vast.ai's words: the endpoint's fields and the worker group's."""

    endpoint: dict[str, Any]
    workergroup: dict[str, Any]


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


def to_vast(settings: WorkerSettings, search_params: str | None = None) -> VastFields:
    """The given settings as Vast.ai fields: the one place the guide's names map to the API's.

    ``search_params`` is the worker group's current offer query (None for a new group, which gets
    vast-cli's default filter); only the GPU in it changes.
    """
    endpoint = {VAST_FIELDS[name]: value for name, value in settings.given().items() if name in ENDPOINT_SETTINGS}
    workergroup: dict[str, Any] = {}
    if settings.gpu_type is not None:
        base = search_params if search_params is not None else DEFAULT_OFFER_FILTER
        workergroup["search_params"] = with_gpu(base, settings.gpu_type)
    return VastFields(endpoint=endpoint, workergroup=workergroup)


def from_vast(endpoint: Mapping[str, Any], group_search_params: Iterable[str | None] = ()) -> WorkerSettings:
    """The guide's settings of an endpoint (its fields) and its worker groups (their offer queries)."""
    gpus = sorted({g for g in (gpu_from_search_params(p) for p in group_search_params) if g})
    return WorkerSettings(
        idle_timeout=_int(endpoint.get(VAST_FIELDS["idle_timeout"])),
        min_workers=_int(endpoint.get(VAST_FIELDS["min_workers"])),
        max_workers=_int(endpoint.get(VAST_FIELDS["max_workers"])),
        gpu_type=",".join(gpus) or None,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def merged(current: WorkerSettings, wanted: WorkerSettings) -> WorkerSettings:
    """``current`` with every field ``wanted`` gives."""
    return dataclasses.replace(current, **wanted.given())


def settings_problems(settings: WorkerSettings) -> list[str]:
    """What is wrong with these settings, each naming the config field; empty when they are valid."""
    problems = []
    idle, low, high, gpu = settings.idle_timeout, settings.min_workers, settings.max_workers, settings.gpu_type
    if idle is not None and not 0 <= idle <= MAX_IDLE_TIMEOUT:
        problems.append(f"idle_timeout must be between 0 and {MAX_IDLE_TIMEOUT} seconds (got {idle})")
    if low is not None and low < 0:
        problems.append(f"min_workers must be 0 or more (got {low})")
    if high is not None and high < 1:
        problems.append(f"max_workers must be at least 1 (got {high})")
    if low is not None and high is not None and low >= 0 and high >= 1 and low > high:
        problems.append(f"min_workers ({low}) cannot exceed max_workers ({high})")
    if gpu is not None and not _GPU.match(gpu):
        problems.append(
            f"gpu_type {gpu!r} is not a Vast.ai GPU name: letters, digits and underscores, e.g. RTX_4090 or RTX_A6000"
        )
    return problems


def changes(current: WorkerSettings, wanted: WorkerSettings) -> tuple[Change, ...]:
    """The settings ``wanted`` gives that differ from ``current``, in the guide's order."""
    return tuple(
        Change(name, getattr(current, name), value)
        for name, value in wanted.given().items()
        if getattr(current, name) != value
    )
