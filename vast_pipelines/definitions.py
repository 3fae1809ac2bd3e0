"""The code location: everything under ``vast_pipelines/defs/`` is discovered."""

import warnings
from pathlib import Path

import dagster as dg

# Dagster's own sensor builders pass the beta `owners` parameter; the notice would repeat in `dagster dev`'s log
# at every load of the code location, saying nothing about this project.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer", category=dg.BetaWarning)

# Dagster's name for the repository of a Definitions object.
DEFINITIONS_REPOSITORY = "__repository__"


def code_location(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> str:
    """This code location as the UI's paths name it, ``repository@location``: the run's own when the instance
    launched it (UI, schedule, sensor), else as ``dagster dev`` loads this module (workspace.yaml: python_module
    without location_name, the name pyproject.toml's ``code_location_name`` also gives)."""
    origin = context.run.remote_job_origin
    if origin is not None:
        return f"{origin.repository_origin.repository_name}@{origin.location_name}"
    return f"{DEFINITIONS_REPOSITORY}@{__name__}"


@dg.definitions
def defs() -> dg.Definitions:
    """All assets, checks, jobs, schedules, sensors and resources of vast_pipelines."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
