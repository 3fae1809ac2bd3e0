"""Every instance configuration the project ships limits the emergency and Vast.ai-change tags to one run."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml

from vast_pipelines.defs.deploy.changes import CHANGES_TAG
from vast_pipelines.defs.emergency.steps import EMERGENCY_TAG
from vast_pipelines_tests.conftest import REPO

pytestmark = pytest.mark.faults

WANTED = {EMERGENCY_TAG: 1, **dict.fromkeys(CHANGES_TAG, 1)}


def limits(entries: list[dict]) -> dict[str, int]:
    return {entry["key"]: entry["limit"] for entry in entries}


@pytest.mark.parametrize("path", ["dagster.yaml", "deploy/dagster.postgres.yaml"])
def test_each_instance_yaml_limits_the_tags_and_a_real_instance_loads_them(path):
    config = yaml.safe_load((REPO / path).read_text())
    assert limits(config["run_coordinator"]["config"]["tag_concurrency_limits"]) == WANTED
    with dg.instance_for_test(overrides={"run_coordinator": config["run_coordinator"]}) as instance:
        loaded = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        assert limits(loaded) == WANTED


def test_the_helm_values_limit_the_tags():
    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    assert limits(coordinator["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]) == WANTED
