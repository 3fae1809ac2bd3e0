"""The ``update_worker`` job as data: where a run stands, and the ready run config a recommendation becomes.

Recommendations from the reviews become a ready ``update_worker`` run config (:func:`update_worker_run_config`),
which reports show as YAML and as a Launchpad link, so the fix is one click.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vast_pipelines.policy.guide_words import GUIDE_WORD_NAMES, GuideWords, from_guide
from vast_pipelines.policy.worker_settings import SETTING_NAMES, Change, WorkerSettings, settings_problems

UPDATE_JOB = "update_worker"


@dataclass(frozen=True)
class GroupQuery:
    """A worker group's id and its GPU offer query."""

    id: int
    search_params: str | None


@dataclass(frozen=True)
class WorkerUpdate:
    """Where an ``update_worker`` run stands."""

    endpoint_id: int
    endpoint_name: str
    before: WorkerSettings
    wanted: WorkerSettings
    changes: tuple[Change, ...]
    groups: tuple[GroupQuery, ...]
    dry_run: bool
    applied: tuple[str, ...] = ()
    translation: tuple[str, ...] = ()
    gpu_type: str | None = None  # the guide's gpu_type: each worker group's gpu_name, its other filters kept


def update_worker_run_config(endpoint: str | int, changes: WorkerSettings | Mapping[str, Any]) -> dict[str, Any]:
    """A ready ``update_worker`` run config: the endpoint and the settings to change.

    ``changes`` is a :class:`WorkerSettings` or a mapping of Vast.ai fields (min_load, inactivity_timeout, ...)
    and the guide's words (idle_timeout, min_workers, max_workers, gpu_type), which ``update_worker`` translates
    and shows before changing anything; unknown names and invalid values are refused with the reason.
    """
    given = changes.given() if isinstance(changes, WorkerSettings) else dict(changes)
    known = set(SETTING_NAMES) | set(GUIDE_WORD_NAMES)
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"update_worker has no setting {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    direct = WorkerSettings(**{k: v for k, v in given.items() if k in SETTING_NAMES})
    words = GuideWords(**{k: v for k, v in given.items() if k in GUIDE_WORD_NAMES and k not in SETTING_NAMES})
    problems = settings_problems(direct) + list(from_guide(words, worker_perf=1.0).problems)
    if problems:
        raise ValueError("; ".join(problems))
    if not str(endpoint).strip():
        raise ValueError("endpoint (name or id) must be given")
    ordered = {**direct.given(), **words.given()}
    return {"endpoint": str(endpoint), **ordered}
