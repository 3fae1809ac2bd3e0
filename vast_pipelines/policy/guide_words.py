"""The guide's words for a worker, and the one mapping from them onto Vast.ai's fields (:mod:`.worker_settings`).

The guide's words map onto Vast.ai's fields here and nowhere else (:func:`from_guide`): ``idle_timeout`` →
``inactivity_timeout``; ``min_workers: 0`` (scale to zero) → ``min_load: 0`` with an ``inactivity_timeout``;
``min_workers: N`` (keep workers warm) → ``min_load`` of N workers' measured perf, or Vast.ai's documented
``1`` for one worker when no perf is measured yet; ``gpu_type`` → the ``gpu_name`` of ``search_params``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from vast_pipelines.policy.worker_settings import WorkerSettings, gpu_from_search_params, with_gpu

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
_GPU = re.compile(r"^[A-Za-z0-9_]{1,40}$")


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
