"""Resources configured from the environment (Dagster ``EnvVar``), with the guide's defaults."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import dagster as dg

from vast_pipelines.errors import OperatorError
from vast_pipelines.resources.database import AnalyticsDatabase, check_database_url
from vast_pipelines.resources.email import EmailResource, parse_smtp_url
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.heartbeat import HeartbeatResource
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.resources.settings import (
    RunbookSettings,
    load_timezone,
    parse_actions,
    parse_shutdown,
    parse_thresholds,
)
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.tailscale import TailscaleResource
from vast_pipelines.resources.vast import VastAIResource

# resource key -> (class, {field: environment variable})
ENVIRONMENT: dict[str, tuple[type[dg.ConfigurableResource], dict[str, str]]] = {
    "database": (AnalyticsDatabase, {"url": "TIMESCALE_URL", "home": "VAST_PIPELINES_HOME"}),
    "endpoints": (InferenceEndpoints, {"vllm_url": "VLLM_URL", "ollama_url": "OLLAMA_URL"}),
    "vast": (
        VastAIResource,
        {
            "api_url": "VAST_API_URL",
            "autoscaler_url": "VAST_AUTOSCALER_URL",
            "api_key": "VAST_API_KEY",
            "endpoint_names": "VAST_ENDPOINTS",
        },
    ),
    "slack": (
        SlackResource,
        {
            "bot_token": "SLACK_BOT_TOKEN",
            "api_url": "SLACK_API_URL",
            "alerts_channel": "SLACK_ALERTS_CHANNEL",
            "updates_channel": "SLACK_UPDATES_CHANNEL",
            "incidents_channel": "SLACK_INCIDENTS_CHANNEL",
            "oncall_mention": "SLACK_ONCALL_MENTION",
        },
    ),
    "email": (EmailResource, {"smtp_url": "SMTP_URL", "to": "ALERT_EMAIL_TO", "sender": "ALERT_EMAIL_FROM"}),
    "tailscale": (TailscaleResource, {}),
    "heartbeat": (HeartbeatResource, {"url": "HEARTBEAT_URL"}),
    "router": (
        AgentRouterResource,
        {"env_file": "AGENT_ROUTER_ENV_FILE", "restart_command": "AGENT_ROUTER_RESTART_COMMAND"},
    ),
    "settings": (
        RunbookSettings,
        {
            "timezone": "VAST_PIPELINES_TIMEZONE",
            "thresholds": "VAST_PIPELINES_THRESHOLDS",
            "emergency_actions": "VAST_EMERGENCY_ACTIONS",
            "emergency_shutdown": "VAST_EMERGENCY_SHUTDOWN",
        },
    ),
}


class ConfigurationError(OperatorError):
    """The environment holds a value the code location refuses to load with."""


# HTTP(S) base URLs: each must parse and name a host.
HTTP_VARIABLES = {
    "VLLM_URL": "http://vastai-gpu:8000",
    "OLLAMA_URL": "http://localhost:11434",
    "VAST_API_URL": "https://console.vast.ai",
    "VAST_AUTOSCALER_URL": "https://run.vast.ai",
    "SLACK_API_URL": "https://slack.com/api/",
}


def _check_http_url(variable: str, value: str, example: str) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise OperatorError(
            f"{variable}={value!r} cannot be parsed (is the port a number?). Example: {example}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OperatorError(f"{variable}={value!r} is not an http(s):// URL with a host. Example: {example}")


def validate_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse to load on any setting that would switch a check off, pull the trigger, or fail every tick later.

    Called when the code location loads (``dagster dev``, ``dagster definitions validate``, the code server), so a
    typo is one clear message then, not a grey tick every minute. Every bad variable is named with its value
    (never a secret) and a valid example, in one error.
    """
    env = os.environ if environ is None else environ
    checks: list[tuple[str, Callable[[str], object]]] = [
        ("TIMESCALE_URL", check_database_url),
        ("VAST_PIPELINES_THRESHOLDS", parse_thresholds),
        ("VAST_EMERGENCY_ACTIONS", parse_actions),
        ("VAST_EMERGENCY_SHUTDOWN", parse_shutdown),
        ("VAST_PIPELINES_TIMEZONE", load_timezone),
        ("VAST_PIPELINES_HISTORY_START", lambda _: history_start(env)),
        ("SMTP_URL", parse_smtp_url),
        *((var, functools.partial(_check_http_url, var, example=ex)) for var, ex in HTTP_VARIABLES.items()),
    ]
    problems = []
    for variable, check in checks:
        value = env.get(variable)
        if not value:
            continue
        try:
            check(value)
        except OperatorError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigurationError(
            "vast_pipelines will not load with this configuration (fix the environment or .env):\n"
            + "\n".join(f"- {p}" for p in problems)
        )


def unset_variables(key: str) -> dict[str, str]:
    """``{field: VARIABLE}`` of resource ``key`` whose variable is not set."""
    return {field: var for field, var in ENVIRONMENT[key][1].items() if not os.environ.get(var)}


def build_resources(
    overrides: dict[str, dict[str, Any]] | None = None, *, resolved: bool = False
) -> dict[str, dg.ConfigurableResource]:
    """Every resource, keyed by the name assets and sensors ask for.

    A set variable becomes ``EnvVar(VAR)`` (resolved when a run starts, never shown in the UI); an unset
    one leaves the field at the guide's default, because a field given an unset ``EnvVar`` fails the run.
    ``resolved=True`` reads the values now, for resources used outside a run (the demo command).
    """
    overrides = overrides or {}
    resources = {}
    for key, (cls, variables) in ENVIRONMENT.items():
        fields: dict[str, Any] = {
            f: os.environ[v] if resolved else dg.EnvVar(v) for f, v in variables.items() if os.environ.get(v)
        }
        fields.update(overrides.get(key, {}))
        resources[key] = cls(**fields)
    return resources


def schedule_timezone() -> str:
    """VAST_PIPELINES_TIMEZONE for schedules and partitions (read when the code location loads)."""
    name = os.environ.get("VAST_PIPELINES_TIMEZONE") or "UTC"
    load_timezone(name)
    return name


# The first day of the cost history's partitions: the year before the guide's last update (2026-01-28),
# so a year of monthly reviews can be backfilled; older data needs VAST_PIPELINES_HISTORY_START.
DEFAULT_HISTORY_START = "2025-01-01"


def history_start(environ: Mapping[str, str] | None = None) -> str:
    """VAST_PIPELINES_HISTORY_START (YYYY-MM-DD) for the cost partitions (read when the code location loads)."""
    env = os.environ if environ is None else environ
    value = (env.get("VAST_PIPELINES_HISTORY_START") or DEFAULT_HISTORY_START).strip()
    try:
        date.fromisoformat(value)
    except ValueError:
        raise OperatorError(
            f"VAST_PIPELINES_HISTORY_START={value!r} is not a date: use YYYY-MM-DD, e.g. {DEFAULT_HISTORY_START}"
        ) from None
    return value
