"""The guide's "Update Worker Configuration" as a job: show, change only what differs (PUT), read back."""

import dataclasses

import dagster as dg

from vast_pipelines.defs.deploy.changes import CHANGES_TAG, notify_updates, record
from vast_pipelines.defs.deploy.config import UpdateWorkerConfig
from vast_pipelines.errors import OperatorError
from vast_pipelines.policy.guide_words import combine, from_guide
from vast_pipelines.policy.update_worker import UPDATE_JOB, GroupQuery, WorkerUpdate
from vast_pipelines.policy.worker_settings import (
    ENDPOINT_FIELDS,
    WorkerSettings,
    changes,
    from_vast,
    gpu_from_search_params,
    group_query,
    merged,
    settings_problems,
    with_gpu,
)
from vast_pipelines.reports.deploy import (
    bullet_list,
    known_endpoints,
    settings_table,
    update_summary,
    updated_message,
)
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource


def _read(vast: VastAIResource, endpoint_id: int) -> tuple[WorkerSettings, tuple[GroupQuery, ...]]:
    endpoint = vast.find_endpoint(endpoint_id)
    if endpoint is None:
        raise dg.Failure(description=f"Endpoint {endpoint_id} is no longer on the Vast.ai account.")
    groups = tuple(GroupQuery(int(g["id"]), group_query(g)) for g in vast.endpoint_workergroups(endpoint_id))
    return from_vast(endpoint.raw, [g.search_params for g in groups]), groups


@dg.op(
    description="Find the endpoint (by name or id), show its current settings, the guide's words as Vast.ai "
    "fields, and what would change."
)
def update_worker_read(
    context: dg.OpExecutionContext, config: UpdateWorkerConfig, vast: VastAIResource, settings: RunbookSettings
) -> WorkerUpdate:
    words = config.words()
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
    perf = None
    if words.min_workers:
        try:
            perf = vast.worker_perf(endpoint.id)
        except OperatorError as exc:
            context.log.warning(f"Workers' measured perf unknown ({exc}); min_load is sized without it")
    queries = {g.search_params for g in groups}
    translation = combine(
        config.direct(),
        from_guide(words, worker_perf=perf, search_params=next(iter(queries)) if len(queries) == 1 else None),
    )
    wanted = translation.settings
    problems = list(translation.problems) + settings_problems(merged(before, wanted))
    if (wanted.search_params is not None or words.gpu_type) and not groups:
        problems.append(
            f"search_params (gpu_type) live on worker groups and endpoint {endpoint.name} has none: deploy_model "
            "creates one"
        )
    if problems:
        raise dg.Failure(description="update_worker config is invalid; nothing was changed:\n" + bullet_list(problems))
    if translation.lines:
        context.log.info(
            "The guide's words as Vast.ai fields (nothing changed yet):\n" + bullet_list(translation.lines)
        )
    found_changes = changes(before, wanted)
    if words.gpu_type and len(queries) > 1:
        # Several offer queries: each group keeps its own filters and gets the GPU; the check is per group.
        found_changes = tuple(c for c in found_changes if c.name != "search_params")
        if any(gpu_from_search_params(q) != words.gpu_type for q in queries):
            found_changes += (changes(before, WorkerSettings(search_params=f"gpu_name={words.gpu_type}"))[0],)
    update = WorkerUpdate(
        endpoint_id=endpoint.id,
        endpoint_name=endpoint.name,
        before=before,
        wanted=wanted,
        changes=found_changes,
        groups=groups,
        dry_run=not settings.apply_actions,
        translation=translation.lines,
        gpu_type=words.gpu_type,
    )
    table = settings_table(before)
    context.log.info(f"Current settings of {endpoint.name} (id {endpoint.id}):\n{table}")
    context.log.info(update_summary(update))
    context.add_output_metadata(
        {
            "endpoint_id": endpoint.id,
            "changes": len(update.changes),
            "current": dg.MetadataValue.md(table),
            "translation": dg.MetadataValue.md(bullet_list(translation.lines) or "no guide words given"),
        }
    )
    return update


def _group_target(update: WorkerUpdate, group: GroupQuery) -> str | None:
    """The offer query a worker group should have after this update (None: leave it)."""
    if update.gpu_type:
        return with_gpu(group.search_params, update.gpu_type)
    return update.wanted.search_params


@dg.op(description="PUT only the changed fields: the endpoint's, and each worker group's GPU offer query.")
def update_worker_apply(
    context: dg.OpExecutionContext, update: WorkerUpdate, vast: VastAIResource, database: AnalyticsDatabase
) -> WorkerUpdate:
    if not update.changes:
        context.log.info(f"{update.endpoint_name}: nothing to change, no call made")
        return update
    # (what, path, id, before, after) in Vast.ai's fields
    calls: list[tuple[str, str, int, dict, dict]] = []
    endpoint_fields = {c.name: c.after for c in update.changes if c.name in ENDPOINT_FIELDS}
    if endpoint_fields:
        before = {c.name: c.before for c in update.changes if c.name in ENDPOINT_FIELDS}
        calls.append(("endpoint", vast.endpoints_path, update.endpoint_id, before, endpoint_fields))
    if any(c.name == "search_params" for c in update.changes):
        for group in update.groups:
            target = _group_target(update, group)
            if target is not None and target != group.search_params:
                after = {"search_params": target, "endpoint_id": update.endpoint_id}
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
            f"update {what}",
            f"{what} {target}",
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
        after, groups = _read(vast, update.endpoint_id)
    except OperatorError as exc:
        raise dg.Failure(
            description=f"The change was sent ({'; '.join(update.applied)}) but could not be read back: {exc}"
        ) from None
    report = settings_table(update.before, after)
    context.log.info(f"{update_summary(update, after)}\n{report}")
    context.add_output_metadata(
        {"dry_run": False, "changes": len(update.changes), "report": dg.MetadataValue.md(report)}
    )
    differ = [c for c in update.changes if c.name != "search_params" and getattr(after, c.name) != c.after]
    read = [f"{c.name}={getattr(after, c.name)} (asked {c.after})" for c in differ]
    if any(c.name == "search_params" for c in update.changes):
        read += [
            f"worker group {g.id} search_params={g.search_params!r} (asked {_group_target(update, g)!r})"
            for g in groups
            if _group_target(update, g) not in (None, g.search_params)
        ]
    if read:
        read = ", ".join(read)
        raise dg.Failure(description=f"Vast.ai accepted the change but reads back {read}.\n{report}")
    notify_updates(context, database, slack, text=updated_message(update, after), kind="update_worker")


@dg.config_mapping
def _update_worker_config(config: UpdateWorkerConfig) -> dg.RunConfig:
    return dg.RunConfig(ops={"update_worker_read": config})


@dg.job(
    name=UPDATE_JOB,
    config=_update_worker_config,
    tags=CHANGES_TAG,
    description="The guide's Update Worker Configuration: show an endpoint's Vast.ai settings (min_load, "
    "cold_workers, max_workers, inactivity_timeout, ..., the worker groups' search_params), translate the guide's "
    "idle_timeout/min_workers/gpu_type, PUT only the fields that change, read them back, report before → after. "
    "Changes only with VAST_EMERGENCY_ACTIONS=apply; otherwise prints the calls.",
)
def update_worker() -> None:
    update_worker_confirm(update_worker_apply(update_worker_read()))
