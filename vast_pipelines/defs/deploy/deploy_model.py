"""The guide's "Deploy New Model to Vast.ai" as a job: endpoint, ready worker, router key, restart, verify, notify."""

import dataclasses
import time

import dagster as dg

from vast_pipelines.defs.deploy.changes import CHANGES_TAG, notify_updates, record
from vast_pipelines.defs.deploy.config import DeployModelConfig
from vast_pipelines.defs.deploy.create import deploy_create_endpoint
from vast_pipelines.defs.deploy.steps import Stop, planned
from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.deploy import DEPLOY_JOB, WORKER_URL_PLACEHOLDER, Deployment, is_failed, workers_summary
from vast_pipelines.reports.deploy import deployed_message, dry_run_report
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.endpoints import InferenceEndpoints
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource


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
        return planned(context, d, line)
    assert d.endpoint_id is not None
    stop = Stop(context, vast, router, database, slack)
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
            stop.at(d, "wait for a ready worker", exc)
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
            stop.at(d, "wait for a ready worker", error)
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
        return planned(context, d, line)
    url = d.router_url or ""
    try:
        change = router.write(key, url)
    except OperatorError as exc:
        Stop(context, vast, router, database, slack).at(d, "update the router .env", exc)
    if change.changed:
        record(
            context,
            database,
            "update the router .env",
            f"{router.env_file}:{key}",
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
        return planned(context, d, line)
    try:
        result = router.restart()
    except OperatorError as exc:
        Stop(context, vast, router, database, slack).at(d, "restart agent-router", exc)
    if not result.ran:
        context.log.warning(result.output)
        return dataclasses.replace(d, notes=(*d.notes, result.output))
    record(context, database, "restart agent-router", "agent-router", after={"returncode": result.returncode})
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
        return planned(context, d, line)
    url, stop = d.router_url or "", Stop(context, vast, router, database, slack)
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
        stop.at(d, "verify the model", f"GET {url}/v1/models failed after one retry: {error}")
    if not any(m.casefold() == model.casefold() for m in models):
        listed = ", ".join(models) or "no models"
        stop.at(
            d,
            "verify the model",
            f"{url}/v1/models lists {listed}, not {model}: the worker serves "
            "another model (check the image's MODEL_NAME or the template)",
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
    sent = notify_updates(context, database, slack, text=text, kind="deploy")
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
    name=DEPLOY_JOB,
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
