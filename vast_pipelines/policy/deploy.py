"""The guide's deploy procedure as data: what to create, when a worker is ready, where a run stands.

``deploy_model`` turns a :class:`DeploySpec` into a Vast.ai endpoint with a worker group and an
agent-router key. Changing a worker's settings afterwards is ``update_worker`` (:mod:`.update_worker`).
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vast_pipelines.policy.guide_words import GUIDE_DEPLOY, GuideWords, combine, from_guide
from vast_pipelines.policy.worker_settings import DEPLOY_DEFAULTS, WorkerSettings, merged, settings_problems

DEPLOY_JOB = "deploy_model"
ROUTER_KEY_PREFIX = "VLLM_ENDPOINT"
# agent-router keys deploy_model must never overwrite.
RESERVED_ROUTER_KEYS = frozenset({"USE_VASTAI"})
DEFAULT_DISK_GB = 64
DEFAULT_READY_TIMEOUT_SECONDS = 1200.0  # a fresh worker downloads the image and loads the weights
DEFAULT_POLL_INTERVAL_SECONDS = 15.0
WORKER_URL_PLACEHOLDER = "<worker URL from the autoscaler, once a worker is ready>"

_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ROUTER_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_TEMPLATE_HASH = re.compile(r"^[A-Za-z0-9]{6,64}$")
_NO_SPACE = re.compile(r"^\S+$")

# Worker states as the autoscaler reports them ("Error", "loading", ...), first word, lower case, that will not
# become ready by themselves.
FAILED_STATES = frozenset({"error", "failed", "destroying"})


def endpoint_name_for(model_name: str) -> str:
    """An endpoint name from a model id: ``meta-llama/Llama-3-8b`` → ``llama-3-8b`` (the guide's image name)."""
    last = model_name.strip().rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9]+", "-", last.lower()).strip("-")


# A model's size in its name: 8b, 70b, 0.5b, 350m.
_SIZE = re.compile(r"^\d+(\.\d+)?[bm]$")


def router_key_for(endpoint_name: str) -> str:
    """The agent-router key in the guide's form: ``llama-3-8b`` → ``VLLM_ENDPOINT_LLAMA3``.

    The rule: ``VLLM_ENDPOINT_`` and the endpoint name upper-cased, without its size part (``8b``, ``70b``,
    ``0.5b``) and without separators (``qwen2.5-7b-instruct`` → ``VLLM_ENDPOINT_QWEN25INSTRUCT``). Two sizes of
    one family therefore share the key: give ``router_env_key`` to keep them apart.
    """
    parts = [p for p in re.split(r"[^a-z0-9.]+", endpoint_name.lower()) if p]
    family = [p for p in parts if not _SIZE.match(p)] or parts
    return f"{ROUTER_KEY_PREFIX}_" + re.sub(r"[^A-Z0-9]+", "", "".join(family).upper())


@dataclass(frozen=True)
class DeploySpec:
    """What ``deploy_model`` deploys, with every derived name filled in."""

    model_name: str
    endpoint_name: str
    router_env_key: str
    settings: WorkerSettings = WorkerSettings()
    asked: WorkerSettings = WorkerSettings()  # the fields the config set (words translated, or direct)
    translation: tuple[str, ...] = ()
    setting_problems: tuple[str, ...] = ()
    image: str | None = None
    template_hash: str | None = None
    endpoint_url: str | None = None
    disk_gb: int = DEFAULT_DISK_GB
    ready_timeout_seconds: float = DEFAULT_READY_TIMEOUT_SECONDS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS


def deploy_spec(
    model_name: str,
    *,
    words: GuideWords = GUIDE_DEPLOY,
    direct: WorkerSettings | None = None,
    image: str | None = None,
    template_hash: str | None = None,
    endpoint_name: str | None = None,
    router_env_key: str | None = None,
    endpoint_url: str | None = None,
    disk_gb: int = DEFAULT_DISK_GB,
    ready_timeout_seconds: float = DEFAULT_READY_TIMEOUT_SECONDS,
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS,
) -> DeploySpec:
    """A spec from the job's config: blanks are "not given", names derive from the model when omitted.

    The settings are the guide's ``words`` translated onto Vast.ai's fields (:func:`from_guide`; a new endpoint
    has no measured perf yet), with the Vast.ai fields given ``direct`` on top, over :data:`DEPLOY_DEFAULTS`.
    """
    model = model_name.strip()
    name = _blank(endpoint_name) or endpoint_name_for(model)
    translation = combine(direct or WorkerSettings(), from_guide(words))
    return DeploySpec(
        model_name=model,
        endpoint_name=name,
        router_env_key=_blank(router_env_key) or router_key_for(name),
        settings=merged(DEPLOY_DEFAULTS, translation.settings),
        asked=translation.settings,
        translation=translation.lines,
        setting_problems=translation.problems,
        image=_blank(image),
        template_hash=_blank(template_hash),
        endpoint_url=(_blank(endpoint_url) or "").rstrip("/") or None,
        disk_gb=disk_gb,
        ready_timeout_seconds=ready_timeout_seconds,
        poll_interval_seconds=poll_interval_seconds,
    )


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def deploy_problems(spec: DeploySpec) -> list[str]:
    """Everything wrong with a deployment spec, each naming the config field; empty when it is valid."""
    problems = []
    if not spec.model_name or not _NO_SPACE.match(spec.model_name) or "'" in spec.model_name:
        problems.append(f"model_name {spec.model_name!r} must be a model id without spaces, e.g. meta-llama/Llama-3-8b")
    if bool(spec.image) == bool(spec.template_hash):
        problems.append(
            "give exactly one of image (e.g. registry.gitlab.com/blueflyio/vast-ai/llama-3-8b:latest) "
            "or template_hash (a Vast.ai template)"
        )
    if spec.image and (not _NO_SPACE.match(spec.image) or "'" in spec.image):
        problems.append(f"image {spec.image!r} must be an image reference without spaces or quotes")
    if spec.template_hash and not _TEMPLATE_HASH.match(spec.template_hash):
        problems.append(f"template_hash {spec.template_hash!r} must be the template's hash (letters and digits)")
    if not _ENDPOINT_NAME.match(spec.endpoint_name):
        problems.append(
            f"endpoint_name {spec.endpoint_name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    key = spec.router_env_key
    if not _ROUTER_KEY.match(key) or not key.startswith(ROUTER_KEY_PREFIX) or key in RESERVED_ROUTER_KEYS:
        problems.append(
            f"router_env_key {key!r} must be an upper-case variable name starting with {ROUTER_KEY_PREFIX}, "
            "e.g. VLLM_ENDPOINT_LLAMA3 (deploy_model writes only such keys in the agent-router .env)"
        )
    if spec.endpoint_url and not spec.endpoint_url.startswith(("http://", "https://")):
        problems.append(f"endpoint_url {spec.endpoint_url!r} must start with http:// or https://")
    if spec.disk_gb < 8:
        problems.append(f"disk_gb must be at least 8 (got {spec.disk_gb})")
    if spec.ready_timeout_seconds <= 0:
        problems.append(f"ready_timeout_seconds must be positive (got {spec.ready_timeout_seconds:g})")
    if spec.poll_interval_seconds <= 0:
        problems.append(f"poll_interval_seconds must be positive (got {spec.poll_interval_seconds:g})")
    missing = [name for name in ("min_load", "max_workers", "search_params") if getattr(spec.settings, name) is None]
    if missing:
        problems.append(f"{', '.join(missing)} must be given")
    if spec.settings.min_load == 0 and not spec.settings.inactivity_timeout:
        problems.append(
            "min_load 0 scales to zero only with an inactivity_timeout (idle_timeout) above 0 seconds, e.g. 300"
        )
    return problems + list(spec.setting_problems) + settings_problems(spec.settings)


def launch_args(image: str, model_name: str, disk_gb: int) -> str:
    """vast-cli style launch arguments: the image, ``MODEL_NAME`` for its server, vLLM's port and the disk."""
    env = f"-e MODEL_NAME={model_name} -p 8000:8000"
    return f"--image {image} --env {shlex.quote(env)} --disk {disk_gb}"


def endpoint_body(spec: DeploySpec) -> dict[str, Any]:
    """The endpoint's fields for ``POST /api/v0/endptjobs/``: its name and every endpoint setting."""
    return {"endpoint_name": spec.endpoint_name, **spec.settings.endpoint_fields()}


def workergroup_body(spec: DeploySpec, endpoint_id: int | str) -> dict[str, Any]:
    """The worker group's fields for ``POST /api/v0/workergroups/``: the template or the image, and the GPU
    offer query (the scaling settings live on the endpoint, where update_worker changes them)."""
    body: dict[str, Any] = {"endpoint_id": endpoint_id, "endpoint_name": spec.endpoint_name}
    if spec.template_hash:
        body["template_hash"] = spec.template_hash
    else:
        body["launch_args"] = launch_args(spec.image or "", spec.model_name, spec.disk_gb)
    body["search_params"] = spec.settings.search_params
    return body


def foreign_groups(spec: DeploySpec, groups: Iterable[Mapping[str, Any]]) -> list[tuple[Any, str, str]]:
    """The worker groups that run something other than ``spec`` asks for: ``(id, what it runs, what was asked)``
    (a template hash or the launch arguments; ``unknown`` when Vast.ai does not say)."""
    asked = spec.template_hash or f"--image {spec.image}"
    found = []
    for group in groups:
        runs = str(group.get("template_hash") or group.get("launch_args") or "unknown")
        if asked not in runs:
            found.append((group.get("id"), runs, asked))
    return found


def worker_state(status: str) -> str:
    """The first word of a worker status, lower case: ``Ready (IDLE)`` → ``ready``."""
    match = re.match(r"\s*([A-Za-z_]+)", status or "")
    return match.group(1).lower() if match else "unknown"


def is_failed(status: str) -> bool:
    """Whether a worker in this state needs attention (it will not become ready by itself)."""
    return worker_state(status) in FAILED_STATES


def workers_summary(statuses: Iterable[str]) -> str:
    """``2 workers: 1 loading, 1 creating`` (``no workers yet`` when empty)."""
    states = [worker_state(s) for s in statuses]
    if not states:
        return "no workers yet"
    counts = ", ".join(f"{n} {state}" for state, n in Counter(states).most_common())
    return f"{len(states)} worker{'s' if len(states) != 1 else ''}: {counts}"


@dataclass(frozen=True)
class Deployment:
    """Where a ``deploy_model`` run stands: what exists, what this run created, what it changed."""

    spec: DeploySpec
    dry_run: bool
    endpoint_id: int | None = None
    endpoint_created: bool = False
    group_ids: tuple[int, ...] = ()
    groups_created: tuple[int, ...] = ()
    worker_url: str | None = None
    router_before: str | None = None
    router_set: bool = False  # the router key holds router_url (written now, or already)
    router_written: bool = False  # this run changed the router file
    router_backup: str | None = None
    restarted: bool = False
    models: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()

    @property
    def router_url(self) -> str | None:
        """The URL agent-router is given: ``endpoint_url`` when set, else the ready worker's."""
        return self.spec.endpoint_url or self.worker_url
