"""Running a job of the code location in process, and reading what it said."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from vast_pipelines.definitions import defs


@dataclass
class JobRun:
    """A finished in-process run and every message it logged."""

    result: dg.ExecuteInProcessResult
    messages: list[str]

    @property
    def failure(self) -> str:
        """The failed step's description (a ``dg.Failure``) or error message."""
        [event] = self.result.get_step_failure_events()
        data = event.step_failure_data
        return data.user_failure_data.description if data.user_failure_data else data.error.message

    def metadata(self, op: str) -> dict:
        """The output metadata of ``op``, values unwrapped ({} if it produced no output)."""
        events = [e for e in self.result.events_for_node(op) if e.event_type_value == "STEP_OUTPUT"]
        return {k: v.value for k, v in events[0].step_output_data.metadata.items()} if events else {}


def run_job(name: str, resources: dict, run_config: dict) -> JobRun:
    """Execute job ``name`` on a test instance; failures are returned, not raised."""
    job = defs().resolve_job_def(name)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, resources=resources, run_config=run_config, raise_on_error=False
        )
        messages = [r.user_message for r in instance.all_logs(result.run_id)]
    return JobRun(result, messages)
