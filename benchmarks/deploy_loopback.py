"""What deploy_model and update_worker cost besides waiting for Vast.ai: runs against loopback servers.

    .venv/bin/python -m benchmarks.deploy_loopback [runs]

Every outside system is on 127.0.0.1 (the test suite's Vast.ai, vLLM and Slack fakes; the worker is ready on the
first autoscaler poll) and the database is ``deploy_bench`` on the embedded PostgreSQL under VAST_PIPELINES_HOME
(never the demo's database, never TIMESCALE_URL), so the figures are the jobs' own overhead: Dagster in-process
execution, the Vast.ai calls, the router file write, the outbox.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from vast_pipelines.connect.embedded import embedded_server_url
from vast_pipelines.definitions import defs
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.vast import VastAIResource
from vast_pipelines_tests.conftest import VAST_KEY, make_resources
from vast_pipelines_tests.fakes import SlackServer, VastServer, vllm_server


def _seconds(job: dg.JobDefinition, resources: dict, run_config: dict, instance: dg.DagsterInstance) -> float:
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, resources=resources, run_config=run_config)
    elapsed = time.perf_counter() - started
    assert result.success
    return elapsed


def main(runs: int = 10) -> None:
    """Deploy ``runs`` models and update each once; print p50/max seconds per job run."""
    repo = defs()
    deploy, update = repo.resolve_job_def("deploy_model"), repo.resolve_job_def("update_worker")
    with (
        tempfile.TemporaryDirectory() as folder,
        vllm_server(models=tuple(f"org/model-{i}" for i in range(runs))) as worker,
        VastServer(api_key=VAST_KEY, worker_url=None) as vast,
        SlackServer() as slack,
        dg.instance_for_test() as instance,
    ):
        vast.worker_url = worker.url
        home = Path(os.environ.get("VAST_PIPELINES_HOME") or ".vast_pipelines")
        database = AnalyticsDatabase(url=embedded_server_url(home, "deploy_bench"))
        env = Path(folder) / ".env"
        env.write_text("USE_VASTAI=true\n")
        resources = make_resources(
            database, vast=vast, slack=slack, router_env=env, actions="apply", restart_command="true"
        )
        resources["vast"] = VastAIResource(api_url=vast.url, autoscaler_url=vast.url, api_key=VAST_KEY)
        deploys, updates = [], []
        for i in range(runs):
            deploys.append(_seconds(deploy, resources, {"model_name": f"org/model-{i}", "image": "img:1"}, instance))
            updates.append(_seconds(update, resources, {"endpoint": f"model-{i}", "idle_timeout": 600}, instance))
        calls, keys = len(vast.calls), env.read_text().count("VLLM_ENDPOINT_")
    for name, figures in (("deploy_model", deploys), ("update_worker", updates)):
        print(f"{name:14s} {runs} runs: p50 {statistics.median(figures):.2f} s, max {max(figures):.2f} s")
    print(f"Vast.ai calls in all: {calls}; router keys written: {keys} (in-process, loopback, worker ready at once)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
