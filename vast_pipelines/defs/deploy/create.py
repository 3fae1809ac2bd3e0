"""deploy_model's first step: the Vast.ai endpoint and its worker group, created, or reused under the name."""

import dataclasses

import dagster as dg

from vast_pipelines.definitions import code_location
from vast_pipelines.defs.deploy.changes import record
from vast_pipelines.defs.deploy.config import DeployModelConfig
from vast_pipelines.defs.deploy.steps import Stop
from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.deploy import (
    WORKER_URL_PLACEHOLDER,
    Deployment,
    DeploySpec,
    deploy_problems,
    endpoint_body,
    foreign_groups,
    workergroup_body,
)
from vast_pipelines.policy.worker_settings import WorkerSettings, changes, from_vast, group_query
from vast_pipelines.reports.deploy import bullet_list, reuse_notes, update_worker_recommendation
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource, VastEndpoint


def _named(vast: VastAIResource, name: str) -> list[VastEndpoint]:
    return [e for e in vast.list_endpoints() if e.name == name]


def _preflight(
    spec: DeploySpec, vast: VastAIResource, router: AgentRouterResource, *, apply: bool
) -> tuple[VastEndpoint | None, list[dict], list[str]]:
    """The endpoint already named so (and its worker groups), and what to warn about; refuses, before anything is
    created, what apply could not finish. A dry run notes those problems instead."""
    notes: list[str] = []
    try:
        named = _named(vast, spec.endpoint_name)
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


def _reused(context: dg.OpExecutionContext, spec: DeploySpec, existing: VastEndpoint, groups: list[dict]) -> list[str]:
    """What differs in an endpoint deploy_model reuses; a settings drift also as a ready update_worker link."""
    drift = changes(from_vast(existing.raw, [group_query(g) for g in groups]), spec.asked)
    if drift:
        wanted = WorkerSettings(**{c.name: c.after for c in drift})
        recommendation = update_worker_recommendation(existing.name, wanted, code_location(context))
        context.add_output_metadata({"update_worker": dg.MetadataValue.md(recommendation)})
    return reuse_notes(existing.name, drift, foreign_groups(spec, groups))


def _dry_run(
    context: dg.OpExecutionContext, d: Deployment, vast: VastAIResource, existing: VastEndpoint | None, groups: list
) -> Deployment:
    """The calls apply would make (or what it would reuse), without making them."""
    plan = [
        f"reuse endpoint {existing.name} (id {existing.id})"
        if existing
        else "create the endpoint: " + vast.describe_call("POST", vast.endpoints_path, endpoint_body(d.spec)),
        f"reuse worker group(s) {', '.join(str(g.get('id')) for g in groups)}"
        if groups
        else "create its worker group: "
        + vast.describe_call(
            "POST", vast.workergroups_path, workergroup_body(d.spec, existing.id if existing else "<new endpoint id>")
        ),
    ]
    for line in plan:
        context.log.info(f"DRY RUN: would {line}")
    return dataclasses.replace(d, endpoint_id=existing.id if existing else None, plan=tuple(plan))


def _create_endpoint(
    context: dg.OpExecutionContext, d: Deployment, vast: VastAIResource, database: AnalyticsDatabase
) -> Deployment:
    """A new endpoint, recorded; a lost reply, and a twin a retried create left, are found by name."""
    spec, notes = d.spec, list(d.notes)
    body = endpoint_body(spec)
    try:
        endpoint_id = vast.create_endpoint(body)
    except OperatorError as exc:
        # The reply may be lost after Vast.ai created it: look before saying nothing exists.
        try:
            found = next(iter(_named(vast, spec.endpoint_name)), None)
        except OperatorError:
            found = None
        if found is None:
            raise dg.Failure(description=f"Creating the endpoint failed; nothing was created: {exc}") from None
        endpoint_id = found.id
        notes.append(f"Vast.ai answered the create with an error but created endpoint {found.id}: {exc}")
    record(context, database, "create endpoint", spec.endpoint_name, after={"id": endpoint_id, **body})
    context.log.info(f"Created endpoint {spec.endpoint_name} (id {endpoint_id})")
    try:
        twins = [e.id for e in _named(vast, spec.endpoint_name) if e.id != endpoint_id]
    except OperatorError as exc:
        twins = []
        context.log.warning(f"Could not check for a second endpoint named {spec.endpoint_name}: {exc}")
    if twins:
        notes.append(
            f"Vast.ai also holds endpoint(s) {', '.join(map(str, twins))} named {spec.endpoint_name} (a retried "
            f"create?): delete them with `vastai delete endpoint ID`; this deployment uses {endpoint_id}"
        )
    return dataclasses.replace(d, endpoint_id=endpoint_id, endpoint_created=True, notes=tuple(notes))


def _create_workergroup(
    context: dg.OpExecutionContext, d: Deployment, vast: VastAIResource, database: AnalyticsDatabase, stop: Stop
) -> Deployment:
    """The endpoint's worker group, recorded; a failure stops the run naming the endpoint left behind."""
    assert d.endpoint_id is not None
    body = workergroup_body(d.spec, d.endpoint_id)
    try:
        group_id = vast.create_workergroup(body)
    except OperatorError as exc:
        stop.at(d, "create worker group", exc)
    record(context, database, "create worker group", d.spec.endpoint_name, after={"id": group_id, **body})
    context.log.info(f"Created worker group {group_id} ({d.spec.settings.search_params})")
    return dataclasses.replace(d, group_ids=(group_id,), groups_created=(group_id,))


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
    existing, groups, notes = _preflight(spec, vast, router, apply=apply)
    if existing:
        notes += _reused(context, spec, existing, groups)
    for note in notes:
        context.log.warning(note)
    if spec.translation:
        # The guide's words as Vast.ai fields, shown before anything is created.
        context.log.info("The guide's words as Vast.ai fields:\n" + bullet_list(spec.translation))
        context.add_output_metadata({"translation": dg.MetadataValue.md(bullet_list(spec.translation))})
    d = Deployment(spec=spec, dry_run=not apply, notes=tuple(notes))
    if not apply:
        return _dry_run(context, d, vast, existing, groups)

    if existing:
        context.log.info(f"Reusing endpoint {existing.name} (id {existing.id})")
        d = dataclasses.replace(d, endpoint_id=existing.id)
    else:
        d = _create_endpoint(context, d, vast, database)
    if groups:
        group_ids = tuple(int(g["id"]) for g in groups)
        context.log.info(f"Reusing worker group(s) {', '.join(map(str, group_ids))}")
        d = dataclasses.replace(d, group_ids=group_ids)
    else:
        d = _create_workergroup(context, d, vast, database, Stop(context, vast, router, database, slack))
    context.add_output_metadata(
        {
            "endpoint_id": d.endpoint_id,
            "endpoint_created": d.endpoint_created,
            "worker_groups": ", ".join(map(str, d.group_ids)),
        }
    )
    return d
