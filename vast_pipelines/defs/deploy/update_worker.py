"""The guide's "Update Worker Configuration" as a job: show, change only what differs (PUT), read back."""

import dataclasses

import dagster as dg
from pydantic import Field

from vast_pipelines.defs.deploy.changes import CHANGES_TAG, notify_updates, record
from vast_pipelines.policy.deploy import UPDATE_JOB, GroupQuery, WorkerUpdate
from vast_pipelines.policy.worker_settings import (
    VAST_FIELDS,
    WorkerSettings,
    changes,
    from_vast,
    gpu_from_search_params,
    merged,
    settings_problems,
    to_vast,
)
from vast_pipelines.reports.deploy import (
    bullet_list,
    known_endpoints,
    settings_table,
    update_summary,
    updated_message,
)
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.errors import OperatorError
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource


class UpdateWorkerConfig(dg.Config):
    """A worker (endpoint) and the settings to change; the ones left empty stay as they are."""

    endpoint: str = Field(description="Endpoint name or id, e.g. llama-3-8b.")
    idle_timeout: int | None = Field(default=None, description="Seconds (Vast.ai inactivity_timeout), e.g. 600.")
    min_workers: int | None = Field(default=None, description="Vast.ai cold_workers, e.g. 1 to keep a worker warm.")
    max_workers: int | None = Field(default=None, description="Vast.ai max_workers.")
    gpu_type: str | None = Field(default=None, description="Vast.ai GPU name for every worker group, e.g. RTX_A6000.")

    def wanted(self) -> WorkerSettings:
        """The settings asked for."""
        gpu = self.gpu_type.strip() if self.gpu_type and self.gpu_type.strip() else None
        return WorkerSettings(self.idle_timeout, self.min_workers, self.max_workers, gpu)


def _read(vast: VastAIResource, endpoint_id: int) -> tuple[WorkerSettings, tuple[GroupQuery, ...]]:
    endpoint = vast.find_endpoint(endpoint_id)
    if endpoint is None:
        raise dg.Failure(description=f"Endpoint {endpoint_id} is no longer on the Vast.ai account.")
    groups = tuple(GroupQuery(int(g["id"]), g.get("search_params")) for g in vast.endpoint_workergroups(endpoint_id))
    return from_vast(endpoint.raw, [g.search_params for g in groups]), groups


@dg.op(description="Find the endpoint (by name or id), show its current settings and what would change.")
def update_worker_read(
    context: dg.OpExecutionContext, config: UpdateWorkerConfig, vast: VastAIResource, settings: RunbookSettings
) -> WorkerUpdate:
    wanted = config.wanted()
    try:
        endpoints = vast.list_endpoints()
        found = [e for e in endpoints if config.endpoint.strip() in (e.name, str(e.id))]
        if not found:
            raise dg.Failure(
                description=f"No Vast.ai endpoint is named or numbered {config.endpoint!r}; nothing was changed. "
                f"Known endpoints: {known_endpoints((e.name, e.id) for e in endpoints)}."
            )
        if len(found) > 1:
            raise dg.Failure(
                description=f"Several endpoints match {config.endpoint!r}: "
                f"{known_endpoints((e.name, e.id) for e in found)}; give the id. Nothing was changed."
            )
        endpoint = found[0]
        before, groups = _read(vast, endpoint.id)
    except OperatorError as exc:
        raise dg.Failure(description=f"Could not read the Vast.ai account; nothing was changed: {exc}") from None
    # The current GPU may read "RTX_3090,RTX_4090" (one per worker group): only what is asked is checked there.
    problems = settings_problems(merged(dataclasses.replace(before, gpu_type=None), wanted))
    if wanted.gpu_type is not None and not groups:
        problems.append(
            f"gpu_type lives on worker groups and endpoint {endpoint.name} has none: deploy_model creates one"
        )
    if problems:
        raise dg.Failure(description="update_worker config is invalid; nothing was changed:\n" + bullet_list(problems))
    update = WorkerUpdate(
        endpoint_id=endpoint.id,
        endpoint_name=endpoint.name,
        before=before,
        wanted=wanted,
        changes=changes(before, wanted),
        groups=groups,
        dry_run=not settings.apply_actions,
    )
    table = settings_table(before)
    context.log.info(f"Current settings of {endpoint.name} (id {endpoint.id}):\n{table}")
    context.log.info(update_summary(update))
    context.add_output_metadata(
        {
            "endpoint_id": endpoint.id,
            "changes": len(update.changes),
            "current": dg.MetadataValue.md(table),
        }
    )
    return update


@dg.op(description="PUT only the changed fields: the endpoint's, and each worker group's GPU offer query.")
def update_worker_apply(
    context: dg.OpExecutionContext, update: WorkerUpdate, vast: VastAIResource, database: AnalyticsDatabase
) -> WorkerUpdate:
    if not update.changes:
        context.log.info(f"{update.endpoint_name}: nothing to change, no call made")
        return update
    changed = WorkerSettings(**{c.name: c.after for c in update.changes})
    # (what, path, id, before, after) in Vast.ai's fields
    calls: list[tuple[str, str, int, dict, dict]] = []
    endpoint_fields = to_vast(changed).endpoint
    if endpoint_fields:
        before = {VAST_FIELDS[c.name]: c.before for c in update.changes if VAST_FIELDS[c.name] in endpoint_fields}
        calls.append(("endpoint", vast.endpoints_path, update.endpoint_id, before, endpoint_fields))
    if changed.gpu_type is not None:
        for group in [g for g in update.groups if gpu_from_search_params(g.search_params) != changed.gpu_type]:
            after = to_vast(changed, group.search_params).workergroup
            calls.append(
                ("worker group", vast.workergroups_path, group.id, {"search_params": group.search_params}, after)
            )
    if update.dry_run:
        planned = [vast.describe_call("PUT", f"{path}{target}/", body) for _, path, target, _, body in calls]
        for line in planned:
            context.log.info(f"DRY RUN (VAST_EMERGENCY_ACTIONS is not 'apply'): would {line}")
        context.add_output_metadata({"dry_run": True, "calls": dg.MetadataValue.md(bullet_list(planned))})
        return update
    applied: list[str] = []
    for what, path, target, before, body in calls:
        error: OperatorError | None = None
        try:
            if what == "endpoint":
                vast.update_endpoint(target, body)
            else:
                vast.update_workergroup(target, body)
        except OperatorError as exc:
            error = exc
        record(
            context,
            database,
            job=UPDATE_JOB,
            step=f"update {what}",
            target=f"{what} {target}",
            before=before,
            after=body,
            outcome="failed" if error else "applied",
            detail=str(error) if error else None,
        )
        if error:
            done = f"Already applied: {'; '.join(applied)}." if applied else "Nothing was applied."
            raise dg.Failure(
                description=f"Vast.ai refused PUT {path}{target}/ {body}: {error} {done} Launch update_worker again "
                "with the same config: it changes only what still differs."
            )
        applied.append(f"{what} {target} {body}")
        context.log.info(f"PUT {path}{target}/ {body}")
    context.add_output_metadata({"dry_run": False, "calls": len(applied)})
    return dataclasses.replace(update, applied=tuple(applied))


@dg.op(description="Read the settings back and report before → after; tell SLACK_UPDATES_CHANNEL about a change.")
def update_worker_confirm(
    context: dg.OpExecutionContext,
    update: WorkerUpdate,
    vast: VastAIResource,
    database: AnalyticsDatabase,
    slack: SlackResource,
) -> None:
    if not update.applied:
        report = settings_table(update.before, merged(update.before, update.wanted))
        verdict = update_summary(update)
        if update.dry_run and update.changes:
            verdict = f"DRY RUN, nothing was changed; apply would set {verdict}"
        context.log.info(f"{verdict}\n{report}")
        context.add_output_metadata(
            {"dry_run": update.dry_run, "changes": len(update.changes), "report": dg.MetadataValue.md(report)}
        )
        return
    try:
        after, _groups = _read(vast, update.endpoint_id)
    except OperatorError as exc:
        raise dg.Failure(
            description=f"The change was sent ({'; '.join(update.applied)}) but could not be read back: {exc}"
        ) from None
    report = settings_table(update.before, after)
    context.log.info(f"{update_summary(update, after)}\n{report}")
    context.add_output_metadata(
        {"dry_run": False, "changes": len(update.changes), "report": dg.MetadataValue.md(report)}
    )
    differ = [c for c in update.changes if getattr(after, c.name) != c.after]
    if differ:
        read = ", ".join(f"{c.name}={getattr(after, c.name)} (asked {c.after})" for c in differ)
        raise dg.Failure(description=f"Vast.ai accepted the change but reads back {read}.\n{report}")
    notify_updates(
        context,
        database,
        slack,
        text=updated_message(update, after),
        kind="update_worker",
        dedupe_key=f"{UPDATE_JOB}:{context.run.run_id}",
    )


@dg.config_mapping
def _update_worker_config(config: UpdateWorkerConfig) -> dg.RunConfig:
    return dg.RunConfig(ops={"update_worker_read": config})


@dg.job(
    config=_update_worker_config,
    tags=CHANGES_TAG,
    description="The guide's Update Worker Configuration: show an endpoint's idle_timeout, min_workers, "
    "max_workers and gpu_type, PUT only the fields that change, read them back and report before → after. "
    "Changes only with VAST_EMERGENCY_ACTIONS=apply; otherwise prints the calls.",
)
def update_worker() -> None:
    update_worker_confirm(update_worker_apply(update_worker_read()))
