"""Shared by deploy_model's steps: a dry run's plan, and the stop that says what exists and how to finish."""

import dataclasses
from dataclasses import dataclass
from typing import NoReturn

import dagster as dg

from vast_pipelines.defs.deploy.changes import notify_updates, record
from vast_pipelines.policy.deploy import Deployment
from vast_pipelines.reports.deploy import leftover_text
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.router import AgentRouterResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.resources.vast import VastAIResource


def planned(context: dg.OpExecutionContext, d: Deployment, line: str) -> Deployment:
    """A dry run's step: say what would happen and add it to the plan."""
    context.log.info(f"DRY RUN: would {line}")
    return dataclasses.replace(d, plan=(*d.plan, line))


@dataclass(frozen=True)
class Stop:
    """How a step of deploy_model fails: recorded, told to #platform-updates, with what exists now."""

    context: dg.OpExecutionContext
    vast: VastAIResource
    router: AgentRouterResource
    database: AnalyticsDatabase
    slack: SlackResource

    def at(self, d: Deployment, step: str, error: object) -> NoReturn:
        """Fail the run saying what exists now and how to finish or undo it."""
        text = leftover_text(d, step, str(error), api_url=self.vast.api_url, env_file=self.router.env_file)
        self.context.log.error(text)
        record(self.context, self.database, step, d.spec.endpoint_name, outcome="failed", detail=str(error))
        notify_updates(self.context, self.database, self.slack, text=f"⚠️ {text}", kind="deploy_failed")
        raise dg.Failure(
            description=text,
            metadata={
                "endpoint_id": d.endpoint_id if d.endpoint_id is not None else -1,
                "router_written": d.router_written,
            },
        )
