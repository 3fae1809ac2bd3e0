"""The guide's "Deploy New Model to Vast.ai" as a job: endpoint, ready worker, router key, restart, verify, notify."""

import dataclasses
import json
import time
from typing import Any, NoReturn

import dagster as dg
from pydantic import Field

from vast_pipelines.definitions import code_location
from vast_pipelines.defs.deploy.changes import CHANGES_TAG, notify_updates, record
from vast_pipelines.policy.deploy import (
    DEFAULT_DISK_GB,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_READY_TIMEOUT_SECONDS,
    DEPLOY_JOB,
    WORKER_URL_PLACEHOLDER,
    Deployment,
    DeploySpec,
    deploy_problems,
    deploy_spec,
    endpoint_body,
    is_failed,
    update_worker_run_config,
    workergroup_body,
    workers_summary,
)
from vast_pipelines.policy.worker_settings import (
    GUIDE_DEPLOY,
    Change,
    GuideWords,
    WorkerSettings,
    changes,
    from_vast,
    group_query,
)
from vast_pipelines.reports.deploy import (
    bullet_list,
    deployed_message,
    dry_run_report,
    leftover_text,
    setting_text,
    update_worker_recommendation,
)
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.errors import OperatorError
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource, VastEndpoint


class DeployModelConfig(dg.Config):
    """The guide's "Deploy New Model to Vast.ai", with its defaults."""

    model_name: str = Field(description="Model id vLLM serves, e.g. meta-llama/Llama-3-8b.")
    image: str | None = Field(
        default=None,
        description="Image whose server starts from MODEL_NAME (deploy/vllm/Dockerfile), e.g. "
        "registry.gitlab.com/blueflyio/vast-ai/llama-3-8b:latest. Give image or template_hash.",
    )
    template_hash: str | None = Field(
        default=None, description="A Vast.ai template (e.g. its vLLM serverless template) instead of image."
    )
    gpu_type: str | None = Field(
        default=None,
        description=f"Guide word: Vast.ai GPU name, the worker group's search_params gpu_name (default "
        f"{GUIDE_DEPLOY.gpu_type} unless search_params is given).",
    )
    max_workers: int = Field(default=GUIDE_DEPLOY.max_workers, description="Vast.ai max_workers.")
    min_workers: int | None = Field(
        default=None,
        description="Guide word: 0 scales to zero (min_load 0 with inactivity_timeout), 1 keeps a worker warm "
        "(min_load 1). Default 0 unless min_load is given.",
    )
    idle_timeout: int | None = Field(
        default=None,
        description=f"Guide word: seconds without traffic before scaling to zero, Vast.ai inactivity_timeout "
        f"(default {GUIDE_DEPLOY.idle_timeout} unless inactivity_timeout is given).",
    )
    min_load: float | None = Field(default=None, description="Vast.ai min_load (perf units/s kept active).")
    min_cold_load: float | None = Field(default=None, description="Vast.ai min_cold_load (default 0).")
    cold_workers: int | None = Field(
        default=None, description="Vast.ai cold_workers: stopped workers kept with the model loaded (default 1)."
    )
    target_util: float | None = Field(default=None, description="Vast.ai target_util (default 0.9).")
    cold_mult: float | None = Field(default=None, description="Vast.ai cold_mult (default 2.5).")
    inactivity_timeout: int | None = Field(default=None, description="Vast.ai inactivity_timeout (seconds).")
    search_params: str | None = Field(
        default=None, description="Vast.ai worker group offer query, e.g. 'gpu_name=RTX_4090 verified=True'."
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
        gpu = self.gpu_type.strip() if self.gpu_type and self.gpu_type.strip() else None
        search = self.search_params.strip() if self.search_params and self.search_params.strip() else None
        # A guide word takes the guide's default only when its Vast.ai field is not given directly.
        words = GuideWords(
            idle_timeout=_default(self.idle_timeout, self.inactivity_timeout, GUIDE_DEPLOY.idle_timeout),
            min_workers=_default(self.min_workers, self.min_load, GUIDE_DEPLOY.min_workers),
            gpu_type=_default(gpu, search, GUIDE_DEPLOY.gpu_type),
        )
        direct = WorkerSettings(
            min_load=self.min_load,
            min_cold_load=self.min_cold_load,
            cold_workers=self.cold_workers,
            max_workers=self.max_workers,
            target_util=self.target_util,
            cold_mult=self.cold_mult,
            inactivity_timeout=self.inactivity_timeout,
            search_params=search,
        )
        return deploy_spec(
            self.model_name,
            words=words,
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


def _default(word: Any, field: Any, guide: Any) -> Any:
    """The guide word as given; else the guide's default, unless the Vast.ai field it maps to is given."""
    if word is not None:
        return word
    return guide if field is None else None


def _stop(
    context: dg.OpExecutionContext,
    d: Deployment,
    step: str,
    error: object,
    *,
    vast: VastAIResource,
    router: AgentRouterResource,
    database: AnalyticsDatabase,
    slack: SlackResource,
) -> NoReturn:
    """Fail the run saying what exists now and how to finish or undo it (also to #platform-updates)."""
    text = leftover_text(d, step, str(error), api_url=vast.api_url, env_file=router.env_file)
    context.log.error(text)
    record(
        context,
        database,
        job=DEPLOY_JOB,
        step=step,
        target=d.spec.endpoint_name,
        before=None,
        after=None,
        outcome="failed",
        detail=str(error),
    )
    notify_updates(
        context,
        database,
        slack,
        text=f"⚠️ {text}",
        kind="deploy_failed",
        dedupe_key=f"{DEPLOY_JOB}:{context.run.run_id}",
    )
    raise dg.Failure(
        description=text,
        metadata={
            "endpoint_id": d.endpoint_id if d.endpoint_id is not None else -1,
            "router_written": d.router_written,
        },
    )


def _existing_notes(
    spec: DeploySpec, endpoint: VastEndpoint, groups: list[dict], drift: tuple[Change, ...]
) -> list[str]:
    """What differs between an endpoint deploy_model reuses and the config, and how to change it."""
    notes = []
    if drift:
        described = ", ".join(f"{c.name} {setting_text(c.name, c.before)} (config: {c.after})" for c in drift)
        config = update_worker_run_config(endpoint.name, WorkerSettings(**{c.name: c.after for c in drift}))
        notes.append(
            f"endpoint {endpoint.name} already exists with {described}; deploy_model leaves an existing "
            f"endpoint's settings alone: launch update_worker with {json.dumps(config)} to apply the config's"
        )
    for group in groups:
        uses = group.get("template_hash") or group.get("launch_args") or "unknown"
        asked = spec.template_hash or f"--image {spec.image}"
        if asked not in str(uses):
            notes.append(
                f"worker group {group.get('id')} runs {uses!r}, not {asked!r}; deploy_model does not replace it: "
                f"`vastai delete workergroup {group.get('id')}` and launch again to deploy the new one"
            )
    return notes


def _preflight(
    spec: DeploySpec, vast: VastAIResource, router: AgentRouterResource, *, apply: bool
) -> tuple[VastEndpoint | None, list[dict], list[str]]:
    """The endpoint already named so (and its worker groups), and what to warn about; refuses, before anything is
    created, what apply could not finish. A dry run notes those problems instead."""
    notes: list[str] = []
    try:
        named = [e for e in vast.list_endpoints() if e.name == spec.endpoint_name]
        groups = vast.endpoint_workergroups(named[0].id) if len(named) == 1 else []
    except OperatorError as exc:
        if apply:
            raise dg.Failure(description=f"Could not read the Vast.ai account; nothing was created: {exc}") from None
        named, groups = [], []
        notes.append(f"apply would stop here, the account could not be read: {exc}")
    if len(named) > 1:
        ids = ", ".join(str(e.id) for e in named)
        raise dg.Failure(
            description=f"Vast.ai holds {len(named)} endpoints named {spec.endpoint_name} (ids {ids}); nothing was "
            "changed. Delete the extras (`vastai delete endpoint ID`) or give another endpoint_name."
        )
    existing = named[0] if named else None
    if existing and existing.state == "stopped":
        raise dg.Failure(
            description=f"Endpoint {existing.name} (id {existing.id}) exists but is stopped, as emergency_shutdown "
            "leaves it; no worker would ever become ready. Resume it with restore_service (or set its "
            "endpoint_state to active on https://cloud.vast.ai/serverless/) and launch again. Nothing was changed."
        )
    try:
        router.plan(spec.router_env_key, WORKER_URL_PLACEHOLDER)
    except OperatorError as exc:
        if apply:
            raise dg.Failure(description=f"{exc} Nothing was created on Vast.ai.") from None
        notes.append(f"apply would stop here: {exc}")
    owned = vast.owned_names()
    if owned and spec.endpoint_name not in owned:
        notes.append(
            f"VAST_ENDPOINTS ({', '.join(owned)}) does not name {spec.endpoint_name}: add it, or emergency_shutdown "
            "will not stop this endpoint"
        )
    return existing, groups, notes


@dg.op(description="Create the Vast.ai endpoint and its worker group, or reuse those already there under the name.")
def deploy_create_endpoint(
    context: dg.OpExecutionContext,
    config: DeployModelConfig,
    vast: VastAIResource,
    router: AgentRouterResource,
    settings: RunbookSettings,
    database: AnalyticsDatabase,
    slack: SlackResource,
) -> Deployment:
    spec = config.spec()
    problems = deploy_problems(spec)
    if problems:
        raise dg.Failure(description="deploy_model config is invalid; nothing was changed:\n" + bullet_list(problems))
    apply = settings.apply_actions
    d = Deployment(spec=spec, dry_run=not apply)
    existing, groups, notes = _preflight(spec, vast, router, apply=apply)
    if existing:
        drift = changes(from_vast(existing.raw, [group_query(g) for g in groups]), spec.asked)
        notes += _existing_notes(spec, existing, groups, drift)
        if drift:
            wanted = WorkerSettings(**{c.name: c.after for c in drift})
            recommendation = update_worker_recommendation(existing.name, wanted, code_location(context))
            context.add_output_metadata({"update_worker": dg.MetadataValue.md(recommendation)})
    for note in notes:
        context.log.warning(note)
    if spec.translation:
        # The guide's words as Vast.ai fields, shown before anything is created.
        context.log.info("The guide's words as Vast.ai fields:\n" + bullet_list(spec.translation))
        context.add_output_metadata({"translation": dg.MetadataValue.md(bullet_list(spec.translation))})

    if not apply:
        plan = [
            f"reuse endpoint {existing.name} (id {existing.id})"
            if existing
            else "create the endpoint: " + vast.describe_call("POST", vast.endpoints_path, endpoint_body(spec)),
            f"reuse worker group(s) {', '.join(str(g.get('id')) for g in groups)}"
            if groups
            else "create its worker group: "
            + vast.describe_call(
                "POST", vast.workergroups_path, workergroup_body(spec, existing.id if existing else "<new endpoint id>")
            ),
        ]
        for line in plan:
            context.log.info(f"DRY RUN: would {line}")
        return dataclasses.replace(
            d, endpoint_id=existing.id if existing else None, plan=tuple(plan), notes=tuple(notes)
        )

    if existing:
        endpoint_id, created = existing.id, False
        context.log.info(f"Reusing endpoint {existing.name} (id {existing.id})")
    else:
        body = endpoint_body(spec)
        try:
            endpoint_id = vast.create_endpoint(body)
        except OperatorError as exc:
            # The reply may be lost after Vast.ai created it: look before saying nothing exists.
            found = _find_named(vast, spec.endpoint_name)
            if found is None:
                raise dg.Failure(description=f"Creating the endpoint failed; nothing was created: {exc}") from None
            endpoint_id = found.id
            notes.append(f"Vast.ai answered the create with an error but created endpoint {found.id}: {exc}")
        created = True
        record(
            context,
            database,
            job=DEPLOY_JOB,
            step="create endpoint",
            target=spec.endpoint_name,
            before=None,
            after={"id": endpoint_id, **body},
        )
        context.log.info(f"Created endpoint {spec.endpoint_name} (id {endpoint_id})")
        try:
            twins = [e.id for e in vast.list_endpoints() if e.name == spec.endpoint_name and e.id != endpoint_id]
        except OperatorError as exc:
            twins = []
            context.log.warning(f"Could not check for a second endpoint named {spec.endpoint_name}: {exc}")
        if twins:
            notes.append(
                f"Vast.ai also holds endpoint(s) {', '.join(map(str, twins))} named {spec.endpoint_name} (a retried "
                f"create?): delete them with `vastai delete endpoint ID`; this deployment uses {endpoint_id}"
            )
    d = dataclasses.replace(d, endpoint_id=endpoint_id, endpoint_created=created, notes=tuple(notes))

    if groups:
        group_ids = tuple(int(g["id"]) for g in groups)
        context.log.info(f"Reusing worker group(s) {', '.join(map(str, group_ids))}")
        d = dataclasses.replace(d, group_ids=group_ids)
    else:
        body = workergroup_body(spec, endpoint_id)
        try:
            group_id = vast.create_workergroup(body)
        except OperatorError as exc:
            _stop(context, d, "create worker group", exc, vast=vast, router=router, database=database, slack=slack)
        record(
            context,
            database,
            job=DEPLOY_JOB,
            step="create worker group",
            target=spec.endpoint_name,
            before=None,
            after={"id": group_id, **body},
        )
        context.log.info(f"Created worker group {group_id} ({spec.settings.search_params})")
        d = dataclasses.replace(d, group_ids=(group_id,), groups_created=(group_id,))
    context.add_output_metadata(
        {
            "endpoint_id": endpoint_id,
            "endpoint_created": created,
            "worker_groups": ", ".join(map(str, d.group_ids)),
        }
    )
    return d


def _planned(context: dg.OpExecutionContext, d: Deployment, line: str) -> Deployment:
    """A dry run's step: say what would happen and add it to the plan."""
    context.log.info(f"DRY RUN: would {line}")
    return dataclasses.replace(d, plan=(*d.plan, line))


def _find_named(vast: VastAIResource, name: str) -> VastEndpoint | None:
    try:
        return next((e for e in vast.list_endpoints() if e.name == name), None)
    except OperatorError:
        return None


@dg.op(description="Wait, with a bounded poll, until the autoscaler routes requests to a ready worker.")
def deploy_wait_for_worker(
    context: dg.OpExecutionContext,
    deployment: Deployment,
    vast: VastAIResource,
    router: AgentRouterResource,
    database: AnalyticsDatabase,
    slack: SlackResource,
) -> Deployment:
    d, spec = deployment, deployment.spec
    if d.dry_run:
        line = (
            f"wait up to {spec.ready_timeout_seconds:g} s, polling every {spec.poll_interval_seconds:g} s, for a "
            f"ready worker: POST {vast.autoscaler_url.rstrip('/')}{vast.route_path} (endpoint {spec.endpoint_name})"
        )
        return _planned(context, d, line)
    assert d.endpoint_id is not None
    started, request_idx, polls = time.monotonic(), 0, 0
    while True:
        polls += 1
        try:
            statuses = [w.status for w in vast.endpoint_workers(d.endpoint_id)]
            summary = workers_summary(statuses)
        except OperatorError as exc:
            statuses, summary = [], f"workers unknown ({exc})"
        try:
            route = vast.route(spec.endpoint_name, request_idx=request_idx)
        except OperatorError as exc:
            _stop(context, d, "wait for a ready worker", exc, vast=vast, router=router, database=database, slack=slack)
        request_idx = route.request_idx or request_idx
        elapsed = time.monotonic() - started
        if route.url:
            context.log.info(f"Worker ready after {elapsed:.0f} s ({polls} polls, {summary}): {route.url}")
            context.add_output_metadata({"worker_url": route.url, "polls": polls, "wait_seconds": round(elapsed, 1)})
            return dataclasses.replace(d, worker_url=route.url)
        context.log.info(
            f"Waiting for a ready worker of {spec.endpoint_name} (id {d.endpoint_id}): {summary}; autoscaler: "
            f"{route.status}; {elapsed:.0f} s of {spec.ready_timeout_seconds:g} s"
        )
        if elapsed >= spec.ready_timeout_seconds:
            hint = (
                "some workers are in error: read their logs on https://cloud.vast.ai/serverless/"
                if any(is_failed(s) for s in statuses)
                else "no GPU offer may match gpu_type, or the image is still downloading or loading: check the "
                "worker logs on https://cloud.vast.ai/serverless/"
            )
            error = (
                f"no worker was ready within {spec.ready_timeout_seconds:g} s ({polls} polls; last seen: {summary}); "
                f"{hint}. The router file was not touched."
            )
            _stop(
                context, d, "wait for a ready worker", error, vast=vast, router=router, database=database, slack=slack
            )
        time.sleep(min(spec.poll_interval_seconds, max(spec.ready_timeout_seconds - elapsed, 0.0)))


@dg.op(description="Write router_env_key=<endpoint URL> into AGENT_ROUTER_ENV_FILE atomically, other lines kept.")
def deploy_update_router(
    context: dg.OpExecutionContext,
    deployment: Deployment,
    router: AgentRouterResource,
    vast: VastAIResource,
    database: AnalyticsDatabase,
    slack: SlackResource,
) -> Deployment:
    d, key = deployment, deployment.spec.router_env_key
    if d.dry_run:
        try:
            change = router.plan(key, d.router_url or WORKER_URL_PLACEHOLDER)
            line = (
                f"set {key}: {change.before or '(absent)'} → {change.after} in {router.env_file} "
                "(temp file, fsync, rename; backup kept; other lines untouched)"
            )
        except OperatorError as exc:
            line = f"set {key} in the agent-router .env, which would fail: {exc}"
        return _planned(context, d, line)
    url = d.router_url or ""
    try:
        change = router.write(key, url)
    except OperatorError as exc:
        _stop(context, d, "update the router .env", exc, vast=vast, router=router, database=database, slack=slack)
    if change.changed:
        record(
            context,
            database,
            job=DEPLOY_JOB,
            step="update the router .env",
            target=f"{router.env_file}:{key}",
            before={key: change.before},
            after={key: change.after},
            detail=f"backup {change.backup}",
        )
        context.log.info(f"{key}: {change.before or '(absent)'} → {url} (backup {change.backup})")
    else:
        context.log.info(f"{key} already holds {url}; the router file was left as it is")
    context.add_output_metadata({"router_env_key": key, "changed": change.changed})
    return dataclasses.replace(
        d, router_before=change.before, router_set=True, router_written=change.changed, router_backup=change.backup
    )


@dg.op(description="Restart agent-router with AGENT_ROUTER_RESTART_COMMAND so it reads the new key.")
def deploy_restart_router(
    context: dg.OpExecutionContext,
    deployment: Deployment,
    router: AgentRouterResource,
    vast: VastAIResource,
    database: AnalyticsDatabase,
    slack: SlackResource,
) -> Deployment:
    d = deployment
    if d.dry_run:
        line = (
            f"restart agent-router: `{router.restart_command}`"
            if router.restart_command
            else "ask for a restart of agent-router by hand (AGENT_ROUTER_RESTART_COMMAND is not set)"
        )
        return _planned(context, d, line)
    try:
        result = router.restart()
    except OperatorError as exc:
        _stop(context, d, "restart agent-router", exc, vast=vast, router=router, database=database, slack=slack)
    if not result.ran:
        context.log.warning(result.output)
        return dataclasses.replace(d, notes=(*d.notes, result.output))
    record(
        context,
        database,
        job=DEPLOY_JOB,
        step="restart agent-router",
        target="agent-router",
        before=None,
        after={"returncode": result.returncode},
    )
    context.log.info("agent-router restarted")
    return dataclasses.replace(d, restarted=True)


@dg.op(description="Verify that GET <endpoint>/v1/models lists the model (one retry after the cold-start wait).")
def deploy_verify_model(
    context: dg.OpExecutionContext,
    deployment: Deployment,
    endpoints: InferenceEndpoints,
    router: AgentRouterResource,
    vast: VastAIResource,
    database: AnalyticsDatabase,
    slack: SlackResource,
) -> Deployment:
    d, model = deployment, deployment.spec.model_name
    if d.dry_run:
        line = f"verify that GET {d.router_url or WORKER_URL_PLACEHOLDER}/v1/models lists {model}"
        return _planned(context, d, line)
    url = d.router_url or ""
    models: list[str] | None = None
    error: Exception | None = None
    for attempt in (1, 2):
        try:
            models = endpoints.list_models(url)
            break
        except RuntimeError as exc:
            error = exc
            if attempt == 1:
                context.log.info(f"{url}/v1/models did not answer ({exc}); cold start? waiting, then one retry")
                time.sleep(endpoints.cold_start_wait_seconds)
    if models is None:
        _stop(
            context,
            d,
            "verify the model",
            f"GET {url}/v1/models failed after one retry: {error}",
            vast=vast,
            router=router,
            database=database,
            slack=slack,
        )
    if not any(m.casefold() == model.casefold() for m in models):
        listed = ", ".join(models) or "no models"
        _stop(
            context,
            d,
            "verify the model",
            f"{url}/v1/models lists {listed}, not {model}: the worker serves "
            "another model (check the image's MODEL_NAME or the template)",
            vast=vast,
            router=router,
            database=database,
            slack=slack,
        )
    context.log.info(f"{url}/v1/models lists {model}")
    context.add_output_metadata({"models": ", ".join(models)})
    return dataclasses.replace(d, models=tuple(models))


@dg.op(description="Tell SLACK_UPDATES_CHANNEL what was deployed (a dry run shows its plan instead).")
def deploy_notify(
    context: dg.OpExecutionContext,
    deployment: Deployment,
    router: AgentRouterResource,
    slack: SlackResource,
    database: AnalyticsDatabase,
) -> None:
    d = deployment
    if d.dry_run:
        line = f"post the result to {slack.updates_channel}"
        report = dry_run_report(dataclasses.replace(d, plan=(*d.plan, line)))
        context.log.info(report)
        context.add_output_metadata({"dry_run": True, "plan": dg.MetadataValue.md(report)})
        return
    text = deployed_message(d, router.env_file)
    sent = notify_updates(
        context, database, slack, text=text, kind="deploy", dedupe_key=f"{DEPLOY_JOB}:{context.run.run_id}"
    )
    context.add_output_metadata(
        {
            "dry_run": False,
            "endpoint_id": d.endpoint_id or -1,
            "endpoint_url": d.router_url or "",
            "slack": sent.status if sent else "not queued",
            "report": dg.MetadataValue.md(text.replace("\n", "  \n")),
        }
    )


@dg.config_mapping
def _deploy_model_config(config: DeployModelConfig) -> dg.RunConfig:
    return dg.RunConfig(ops={"deploy_create_endpoint": config})


@dg.job(
    config=_deploy_model_config,
    tags=CHANGES_TAG,
    description="The guide's Deploy New Model to Vast.ai: create the endpoint and worker group (reused when the name "
    "exists), wait for a ready worker, set router_env_key in the agent-router .env, restart it, verify "
    "/v1/models, notify #platform-updates. Changes only with VAST_EMERGENCY_ACTIONS=apply; otherwise prints "
    "the plan.",
)
def deploy_model() -> None:
    deploy_notify(
        deploy_verify_model(
            deploy_restart_router(deploy_update_router(deploy_wait_for_worker(deploy_create_endpoint())))
        )
    )
