"""A guide "worker"'s settings in Vast.ai's own fields, and the one mapping from the guide's words onto them.

Vast.ai's serverless engine keeps its scaling settings on the endpoint (``min_load``, ``min_cold_load``,
``cold_workers``, ``max_workers``, ``target_util``, ``cold_mult``, ``inactivity_timeout``) and the GPU in each
worker group's offer query (``search_params``, e.g. ``gpu_name=RTX_4090 verified=True``). What they mean
(Vast.ai's "Endpoint Parameters" and "Managing Scale" guides):

- ``min_load``: the load (perf units per second, tokens/s for an LLM) the engine keeps *active* capacity for,
  whatever the traffic. Above zero keeps at least one worker running; ``0`` lets it scale to zero active
  workers once ``inactivity_timeout`` seconds pass without traffic.
- ``cold_workers``: workers kept *stopped* with the model loaded: a quicker cold start, still a cold start.
  (Vast.ai's console calls this "Minimum Workers"; it is not what the guide's ``min_workers`` means.)

The guide's words map onto those fields here and nowhere else (:func:`from_guide`): ``idle_timeout`` →
``inactivity_timeout``; ``min_workers: 0`` (scale to zero) → ``min_load: 0`` with an ``inactivity_timeout``;
``min_workers: N`` (keep workers warm) → ``min_load`` of N workers' measured perf, or Vast.ai's documented
``1`` for one worker when no perf is measured yet; ``gpu_type`` → the ``gpu_name`` of ``search_params``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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

# The guide's words and the Vast.ai field each one moves.
GUIDE_WORDS: dict[str, str] = {
    "idle_timeout": "inactivity_timeout",
    "min_workers": "min_load",
    "max_workers": "max_workers",
    "gpu_type": "search_params",
}
GUIDE_WORD_NAMES = tuple(GUIDE_WORDS)

# Vast.ai's documented floor: "min_load = 1 ... guarantees at least one active worker".
ONE_WORKER_MIN_LOAD = 1.0
# vast-cli's default offer filter when it builds search_params itself.
DEFAULT_OFFER_FILTER = "verified=True rentable=True rented=False"
MAX_INACTIVITY_TIMEOUT = 86_400
_GPU = re.compile(r"^[A-Za-z0-9_]{1,40}$")
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


@dataclass(frozen=True)
class GuideWords:
    """The guide's words for a worker: ``idle_timeout``, ``min_workers``, ``max_workers``, ``gpu_type``."""

    idle_timeout: int | None = None
    min_workers: int | None = None
    max_workers: int | None = None
    gpu_type: str | None = None

    def given(self) -> dict[str, Any]:
        """The words that are set, in the guide's order."""
        return {name: getattr(self, name) for name in GUIDE_WORD_NAMES if getattr(self, name) is not None}


# The guide's "Deploy via Vast.ai API" body, in its own words.
GUIDE_DEPLOY = GuideWords(idle_timeout=300, min_workers=0, max_workers=3, gpu_type="RTX_4090")
# What deploy_model sets besides the guide's words: Vast.ai's defaults as vast-cli sends them, and one
# stopped worker with the model loaded, so a cold start is the guide's "10-30s", not a fresh instance.
DEPLOY_DEFAULTS = WorkerSettings(min_cold_load=0.0, cold_workers=1, target_util=0.9, cold_mult=2.5)


@dataclass(frozen=True)
class Translation:
    """The guide's words as Vast.ai fields, with one line per word saying what it became and why."""

    settings: WorkerSettings
    lines: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def keep_warm_min_load(workers: int = 1, perf: float | None = None) -> float:
    """``min_load`` that keeps ``workers`` active: that many workers' measured perf, or Vast.ai's documented
    floor for one worker when no perf is known (only valid for one worker: see :func:`from_guide`)."""
    if perf is not None and perf > 0:
        return round(workers * perf, 2)
    return ONE_WORKER_MIN_LOAD * workers


def from_guide(words: GuideWords, *, worker_perf: float | None = None, search_params: str | None = None) -> Translation:
    """The guide's words as Vast.ai fields: the one place they map.

    ``worker_perf`` is a worker's measured perf (``measured_perf`` from the autoscaler), used to size
    ``min_load`` for ``min_workers`` above zero; ``search_params`` is the worker group's current offer query
    (None: vast-cli's default filter), in which only ``gpu_name`` changes for ``gpu_type``.
    """
    fields: dict[str, Any] = {}
    lines: list[str] = []
    problems: list[str] = []
    if words.idle_timeout is not None:
        fields["inactivity_timeout"] = words.idle_timeout
        lines.append(f"idle_timeout={words.idle_timeout} → inactivity_timeout={words.idle_timeout} s")
    if words.min_workers is not None:
        n = words.min_workers
        if n == 0:
            fields["min_load"] = 0.0
            after = f"{words.idle_timeout} s" if words.idle_timeout is not None else "the endpoint's inactivity_timeout"
            lines.append(f"min_workers=0 → min_load=0: scale to zero active workers after {after} without traffic")
        elif n > 0 and worker_perf is not None and worker_perf > 0:
            fields["min_load"] = keep_warm_min_load(n, worker_perf)
            lines.append(
                f"min_workers={n} → min_load={fields['min_load']:g}: keep {n} worker(s) active "
                f"({n} × measured perf {worker_perf:g} perf units/s)"
            )
        elif n == 1:
            fields["min_load"] = ONE_WORKER_MIN_LOAD
            lines.append(
                "min_workers=1 → min_load=1: keep one worker active (no worker's perf measured yet; 1 is Vast.ai's "
                "documented value for at least one active worker)"
            )
        elif n > 1:
            problems.append(
                f"min_workers={n} needs a worker's measured perf to size min_load and none is reported yet: "
                "give min_load (perf units/s) instead, or min_workers=1"
            )
    if words.max_workers is not None:
        fields["max_workers"] = words.max_workers
        lines.append(f"max_workers={words.max_workers} → max_workers={words.max_workers}")
    if words.gpu_type is not None:
        if not _GPU.match(words.gpu_type):
            problems.append(
                f"gpu_type {words.gpu_type!r} is not a Vast.ai GPU name: letters, digits and underscores, "
                "e.g. RTX_4090 or RTX_A6000"
            )
        else:
            base = search_params if search_params is not None else DEFAULT_OFFER_FILTER
            fields["search_params"] = with_gpu(base, words.gpu_type)
            lines.append(f"gpu_type={words.gpu_type} → search_params {fields['search_params']!r}")
    return Translation(WorkerSettings(**fields), tuple(lines), tuple(problems))


def combine(direct: WorkerSettings, translation: Translation) -> Translation:
    """Vast.ai fields given directly together with the guide's words; a field given both ways must agree."""
    problems = list(translation.problems)
    for name, value in translation.settings.given().items():
        own = getattr(direct, name)
        if own is not None and own != value:
            word = next(w for w, f in GUIDE_WORDS.items() if f == name)
            problems.append(f"{name}={own} and the guide's {word} (→ {name}={value}) disagree: give one of them")
    settings = dataclasses.replace(translation.settings, **direct.given())
    return Translation(settings, translation.lines, tuple(problems))


def with_defaults(words: GuideWords, direct: WorkerSettings, defaults: GuideWords) -> GuideWords:
    """The guide's words as given; one not given takes its value in ``defaults``, unless the Vast.ai field it
    maps to is given ``direct``."""
    return GuideWords(
        **{
            word: getattr(words, word)
            if getattr(words, word) is not None
            else (getattr(defaults, word) if getattr(direct, field) is None else None)
            for word, field in GUIDE_WORDS.items()
        }
    )


def to_guide(settings: WorkerSettings) -> GuideWords:
    """The guide's reading of Vast.ai fields (for reports and the what-if): ``min_workers`` is 1 when
    ``min_load`` keeps a worker active, 0 when the endpoint scales to zero."""
    warm = None if settings.min_load is None else (1 if settings.min_load > 0 else 0)
    return GuideWords(
        idle_timeout=settings.inactivity_timeout,
        min_workers=warm,
        max_workers=settings.max_workers,
        gpu_type=gpu_from_search_params(settings.search_params),
    )


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
        min_load=_float(endpoint.get("min_load")),
        min_cold_load=_float(endpoint.get("min_cold_load")),
        cold_workers=_int(endpoint.get("cold_workers")),
        max_workers=_int(endpoint.get("max_workers")),
        target_util=_float(endpoint.get("target_util")),
        cold_mult=_float(endpoint.get("cold_mult")),
        inactivity_timeout=_int(endpoint.get("inactivity_timeout")),
        search_params="; ".join(queries) or None,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


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
