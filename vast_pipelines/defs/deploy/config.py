"""The deployment jobs' run configs: a worker's settings in Vast.ai's fields or the guide's words, declared once."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from vast_pipelines.policy.deploy import (
    DEFAULT_DISK_GB,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_READY_TIMEOUT_SECONDS,
    DeploySpec,
    deploy_spec,
)
from vast_pipelines.policy.guide_words import GUIDE_DEPLOY, GuideWords, with_defaults
from vast_pipelines.policy.worker_settings import WorkerSettings


def _given(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


class WorkerSettingsConfig(dg.Config):
    """A worker's settings in Vast.ai's fields or the guide's words; the ones left empty are not given."""

    min_load: float | None = Field(
        default=None, description="Vast.ai min_load: perf units/s kept on active workers (above 0 keeps one warm)."
    )
    min_cold_load: float | None = Field(default=None, description="Vast.ai min_cold_load (perf units/s).")
    cold_workers: int | None = Field(
        default=None, description="Vast.ai cold_workers: stopped workers kept with the model loaded."
    )
    max_workers: int | None = Field(default=None, description="Vast.ai max_workers.")
    target_util: float | None = Field(default=None, description="Vast.ai target_util (0-1].")
    cold_mult: float | None = Field(default=None, description="Vast.ai cold_mult.")
    inactivity_timeout: int | None = Field(
        default=None, description="Vast.ai inactivity_timeout: seconds without traffic before scaling to zero."
    )
    search_params: str | None = Field(
        default=None,
        description="Vast.ai offer query of the worker groups (replaces it whole), e.g. "
        "'gpu_name=RTX_4090 verified=True'.",
    )
    idle_timeout: int | None = Field(default=None, description="Guide word for inactivity_timeout, e.g. 600.")
    min_workers: int | None = Field(
        default=None,
        description="Guide word: 0 → min_load 0 (scale to zero); N → min_load of N workers' measured perf "
        "(1 when none is measured). The translation is shown before anything changes.",
    )
    gpu_type: str | None = Field(
        default=None, description="Guide word: the gpu_name of every worker group's search_params, e.g. RTX_A6000."
    )

    def direct(self) -> WorkerSettings:
        """The Vast.ai fields asked for."""
        return WorkerSettings(
            min_load=self.min_load,
            min_cold_load=self.min_cold_load,
            cold_workers=self.cold_workers,
            max_workers=self.max_workers,
            target_util=self.target_util,
            cold_mult=self.cold_mult,
            inactivity_timeout=self.inactivity_timeout,
            search_params=_given(self.search_params),
        )

    def words(self) -> GuideWords:
        """The guide's words asked for."""
        return GuideWords(idle_timeout=self.idle_timeout, min_workers=self.min_workers, gpu_type=_given(self.gpu_type))


class UpdateWorkerConfig(WorkerSettingsConfig):
    """A worker (endpoint) and the settings to change, in Vast.ai's fields or the guide's words; the ones left
    empty stay as they are."""

    endpoint: str = Field(description="Endpoint name or id, e.g. llama-3-8b.")


class DeployModelConfig(WorkerSettingsConfig):
    """The guide's "Deploy New Model to Vast.ai", with its defaults; Vast.ai fields left empty take vast-cli's
    (min_cold_load 0, target_util 0.9, cold_mult 2.5) and one cold worker."""

    model_name: str = Field(description="Model id vLLM serves, e.g. meta-llama/Llama-3-8b.")
    image: str | None = Field(
        default=None,
        description="Image whose server starts from MODEL_NAME (deploy/vllm/Dockerfile), e.g. "
        "registry.gitlab.com/blueflyio/vast-ai/llama-3-8b:latest. Give image or template_hash.",
    )
    template_hash: str | None = Field(
        default=None, description="A Vast.ai template (e.g. its vLLM serverless template) instead of image."
    )
    # The guide's words take the guide's defaults unless the Vast.ai field they map to is given.
    max_workers: int = Field(default=GUIDE_DEPLOY.max_workers, description="Vast.ai max_workers.")
    gpu_type: str | None = Field(
        default=None,
        description=f"Guide word: Vast.ai GPU name, the worker group's search_params gpu_name (default "
        f"{GUIDE_DEPLOY.gpu_type} unless search_params is given).",
    )
    min_workers: int | None = Field(
        default=None,
        description="Guide word: 0 scales to zero (min_load 0 with inactivity_timeout), 1 keeps a worker warm "
        f"(min_load 1). Default {GUIDE_DEPLOY.min_workers} unless min_load is given.",
    )
    idle_timeout: int | None = Field(
        default=None,
        description=f"Guide word: seconds without traffic before scaling to zero, Vast.ai inactivity_timeout "
        f"(default {GUIDE_DEPLOY.idle_timeout} unless inactivity_timeout is given).",
    )
    endpoint_name: str | None = Field(default=None, description="Default: from the model, e.g. llama-3-8b.")
    router_env_key: str | None = Field(
        default=None,
        description="agent-router .env key; default in the guide's form from the model family, "
        "e.g. VLLM_ENDPOINT_LLAMA3 for llama-3-8b.",
    )
    endpoint_url: str | None = Field(
        default=None,
        description="URL to give agent-router (e.g. a stable proxy); default: the ready worker's URL from the "
        "autoscaler.",
    )
    disk_gb: int = Field(default=DEFAULT_DISK_GB, description="Worker disk (GB) for an image deployment.")
    ready_timeout_seconds: float = Field(
        default=DEFAULT_READY_TIMEOUT_SECONDS, description="How long to wait for a ready worker before stopping."
    )
    poll_interval_seconds: float = Field(default=DEFAULT_POLL_INTERVAL_SECONDS, description="Between readiness polls.")

    def spec(self) -> DeploySpec:
        """The deployment with its derived names."""
        direct = self.direct()
        return deploy_spec(
            self.model_name,
            words=with_defaults(self.words(), direct, GUIDE_DEPLOY),
            direct=direct,
            image=self.image,
            template_hash=self.template_hash,
            endpoint_name=self.endpoint_name,
            router_env_key=self.router_env_key,
            endpoint_url=self.endpoint_url,
            disk_gb=self.disk_gb,
            ready_timeout_seconds=self.ready_timeout_seconds,
            poll_interval_seconds=self.poll_interval_seconds,
        )
