"""What operators read about deployments and worker updates: plans, results, and how to finish or undo."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import yaml

from vast_pipelines.policy.deploy import Deployment
from vast_pipelines.policy.guide_words import to_guide
from vast_pipelines.policy.update_worker import UPDATE_JOB, WorkerUpdate, update_worker_run_config
from vast_pipelines.policy.worker_settings import SETTING_NAMES, Change, WorkerSettings

# What each Vast.ai field is, for people: its unit and what it does.
UNITS = {
    "min_load": "perf units/s",
    "min_cold_load": "perf units/s",
    "inactivity_timeout": "s",
}
WHAT = {
    "min_load": "load kept on active workers; above 0 keeps a worker warm, 0 lets it scale to zero",
    "min_cold_load": "load that cold (stopped, model loaded) workers may cover",
    "cold_workers": "workers kept stopped with the model loaded (quicker cold start)",
    "max_workers": "most workers, active and stopped",
    "target_util": "share of active capacity the load may use (lower: more headroom)",
    "cold_mult": "stopped capacity planned, as a multiple of the active target",
    "inactivity_timeout": "seconds without traffic before it may scale to zero active workers",
    "search_params": "the worker group's GPU offer query",
}


def setting_text(name: str, value: Any) -> str:
    """One setting for people: ``300 s``, ``3``, ``245 perf units/s``; unknown when Vast.ai did not say."""
    if value is None:
        return "unknown"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    unit = UNITS.get(name)
    return f"{value} {unit}" if unit else f"{value}"


def settings_table(before: WorkerSettings, after: WorkerSettings | None = None) -> str:
    """A Markdown table of the Vast.ai fields, what each does, and before → after when given."""
    head = (
        "| Vast.ai field | what it does | current |"
        if after is None
        else "| Vast.ai field | what it does | before | after |"
    )
    rule = "|---|---|---|" if after is None else "|---|---|---|---|"
    rows = [head, rule]
    for name in SETTING_NAMES:
        old = setting_text(name, getattr(before, name))
        if after is None:
            rows.append(f"| {name} | {WHAT[name]} | {old} |")
        else:
            new = setting_text(name, getattr(after, name))
            rows.append(f"| {name} | {WHAT[name]} | {old} | {'**' + new + '**' if new != old else new} |")
    return "\n".join(rows)


def warmth_text(settings: WorkerSettings) -> str:
    """How the worker scales, in the guide's words: kept warm, or scaling to zero after its idle timeout."""
    guide = to_guide(settings)
    if guide.min_workers:
        return f"min_load {setting_text('min_load', settings.min_load)} keeps a worker active (warm)"
    idle = setting_text("inactivity_timeout", settings.inactivity_timeout)
    return f"min_load 0: it scales to zero active workers after {idle} without requests"


def bullet_list(lines: Iterable[str]) -> str:
    """Markdown bullets."""
    return "\n".join(f"- {line}" for line in lines)


def reuse_notes(endpoint: str, drift: Iterable[Change], foreign: Iterable[tuple[Any, str, str]]) -> list[str]:
    """What differs between an endpoint deploy_model reuses and the config (``drift``, and the worker groups that
    run another image or template), and how to change it."""
    notes = []
    drift = tuple(drift)
    if drift:
        described = ", ".join(f"{c.name} {setting_text(c.name, c.before)} (config: {c.after})" for c in drift)
        config = update_worker_run_config(endpoint, WorkerSettings(**{c.name: c.after for c in drift}))
        notes.append(
            f"endpoint {endpoint} already exists with {described}; deploy_model leaves an existing "
            f"endpoint's settings alone: launch update_worker with {json.dumps(config)} to apply the config's"
        )
    for group_id, runs, asked in foreign:
        notes.append(
            f"worker group {group_id} runs {runs!r}, not {asked!r}; deploy_model does not replace it: "
            f"`vastai delete workergroup {group_id}` and launch again to deploy the new one"
        )
    return notes


def what_exists(d: Deployment, env_file: str | None) -> list[str]:
    """What a deployment has left on Vast.ai and in the router, one line each."""
    lines = []
    if d.endpoint_id is None:
        lines.append("Vast.ai: nothing was created.")
    else:
        made = "created by this run" if d.endpoint_created else "already there, reused"
        lines.append(f"Vast.ai endpoint {d.spec.endpoint_name} (id {d.endpoint_id}, {made}).")
        for group_id in d.group_ids:
            made = "created by this run" if group_id in d.groups_created else "already there, reused"
            lines.append(f"Vast.ai worker group {group_id} of that endpoint ({made}).")
        lines.append(f"Its workers are billed while they run; {warmth_text(d.spec.settings)}.")
    where = env_file or "AGENT_ROUTER_ENV_FILE"
    if d.router_written:
        backup = f" (previous file kept at {d.router_backup})" if d.router_backup else ""
        lines.append(f"agent-router .env {where}: {d.spec.router_env_key}={d.router_url} written{backup}.")
    elif d.router_set:
        lines.append(f"agent-router .env {where}: {d.spec.router_env_key}={d.router_url} already, unchanged.")
    else:
        lines.append(f"agent-router .env {where}: unchanged ({d.spec.router_env_key} not written by this run).")
    lines.append("agent-router: restarted." if d.restarted else "agent-router: not restarted by this run.")
    return lines


def undo_steps(d: Deployment, api_url: str, env_file: str | None) -> list[str]:
    """The commands that remove what this run created or changed (nothing it merely reused)."""
    host = api_url.rstrip("/")
    steps = []
    for group_id in d.groups_created:
        steps.append(f"`vastai delete workergroup {group_id}` (DELETE {host}/api/v0/workergroups/{group_id}/)")
    if d.endpoint_created and d.endpoint_id is not None:
        steps.append(f"`vastai delete endpoint {d.endpoint_id}` (DELETE {host}/api/v0/endptjobs/{d.endpoint_id}/)")
    if d.router_written:
        if d.router_backup:
            steps.append(f"`cp {d.router_backup} {env_file}` to put the agent-router .env back, then restart it")
        else:
            steps.append(f"remove {d.spec.router_env_key} from {env_file}, then restart agent-router")
    return steps


def leftover_text(d: Deployment, step: str, error: str, *, api_url: str, env_file: str | None) -> str:
    """Why a deployment stopped, what exists now, and how to finish or undo it."""
    undo = undo_steps(d, api_url, env_file)
    lines = [
        f"deploy_model stopped at {step} for {d.spec.model_name} → endpoint {d.spec.endpoint_name}: {error}",
        "",
        "What exists now:",
        bullet_list(what_exists(d, env_file)),
        "",
        "To finish: fix the cause above, then launch deploy_model again with the same config; it reuses the "
        "endpoint and worker group instead of creating twins, and repeats only the steps still to do.",
    ]
    if undo:
        lines += ["", "To undo instead:", bullet_list(undo)]
    return "\n".join(lines)


def deployed_message(d: Deployment, env_file: str | None) -> str:
    """The #platform-updates message of a finished deployment."""
    s = d.spec
    source = f"template {s.template_hash}" if s.template_hash else f"image {s.image}"
    reused = " (existing endpoint reused)" if not d.endpoint_created else ""
    lines = [
        f"🚀 Deployed {s.model_name} on Vast.ai: endpoint {s.endpoint_name} (id {d.endpoint_id}){reused}",
        f"• {source}; search_params {s.settings.search_params!r}, max_workers {s.settings.max_workers}, "
        f"cold_workers {s.settings.cold_workers}; {warmth_text(s.settings)}",
        f"• agent-router: {s.router_env_key}={d.router_url} in {env_file or 'AGENT_ROUTER_ENV_FILE'}"
        + (" (restarted)" if d.restarted else " (not restarted: restart agent-router by hand)"),
        f"• Verified: {d.router_url}/v1/models lists {', '.join(d.models)}",
    ]
    lines += [f"⚠️ {note}" for note in d.notes]
    return "\n".join(lines)


def dry_run_report(d: Deployment) -> str:
    """The plan of a dry run: every call and change it would make, in order."""
    lines = [
        f"DRY RUN (VAST_EMERGENCY_ACTIONS is not 'apply'): deploy_model would deploy {d.spec.model_name} "
        f"as endpoint {d.spec.endpoint_name}; nothing was changed.",
        "",
        bullet_list(d.plan),
    ]
    if d.notes:
        lines += ["", bullet_list(f"⚠️ {note}" for note in d.notes)]
    lines += ["", "Set VAST_EMERGENCY_ACTIONS=apply to deploy."]
    return "\n".join(lines)


def update_summary(u: WorkerUpdate, after: WorkerSettings | None = None) -> str:
    """One line per change: ``inactivity_timeout 300 s → 600 s``, or that nothing changes."""
    if not u.changes:
        return f"{u.endpoint_name} (id {u.endpoint_id}): already as asked, nothing to change."
    shown = after or u.wanted
    parts = [
        f"{c.name} {setting_text(c.name, c.before)} → {setting_text(c.name, getattr(shown, c.name))}" for c in u.changes
    ]
    return f"{u.endpoint_name} (id {u.endpoint_id}): " + "; ".join(parts)


def updated_message(u: WorkerUpdate, after: WorkerSettings) -> str:
    """The #platform-updates message of an applied worker update."""
    return f"🔧 update_worker {update_summary(u, after)}"


def known_endpoints(endpoints: Iterable[tuple[str, int]]) -> str:
    """``llama-3-8b (id 101), qwen (id 102)``, or that the account has none."""
    found = [f"{name} (id {endpoint_id})" for name, endpoint_id in endpoints]
    return ", ".join(found) if found else "none (the account has no serverless endpoints)"


def run_config_yaml(run_config: Mapping[str, Any]) -> str:
    """A run config as the YAML the Launchpad shows."""
    return yaml.safe_dump(dict(run_config), sort_keys=False, default_flow_style=False)


def launchpad_path(job: str, run_config: Mapping[str, Any], location: str) -> str:
    """The Dagster UI path that opens ``job``'s Launchpad filled with ``run_config`` (prefix the UI's URL);
    ``location`` is the code location as the UI's paths name it, ``repository@location``."""
    return f"/locations/{location}/jobs/{job}/playground/setup?config={quote(run_config_yaml(run_config), safe='')}"


def update_worker_recommendation(
    endpoint: str | int, changes: WorkerSettings, location: str, base_url: str = ""
) -> str:
    """Markdown for a report: a link that opens ``update_worker``'s Launchpad filled in, and the same YAML.

    ``location`` is the code location (``repository@location``) that serves ``update_worker``; ``base_url`` is
    the Dagster UI's address, without which the link is relative (it works inside the UI).
    """
    config = update_worker_run_config(endpoint, changes)
    link = base_url.rstrip("/") + launchpad_path(UPDATE_JOB, config, location)
    return f"[Open {UPDATE_JOB} with this config]({link})\n\n```yaml\n{run_config_yaml(config)}```"
