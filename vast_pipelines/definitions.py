"""The code location: everything under ``vast_pipelines/defs/`` is discovered."""

import warnings
from pathlib import Path

import dagster as dg

# Dagster's own sensor builders pass the beta `owners` parameter; the notice would repeat in `dagster dev`'s log
# at every load of the code location, saying nothing about this project.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer", category=dg.BetaWarning)


@dg.definitions
def defs() -> dg.Definitions:
    """All assets, checks, jobs, schedules, sensors and resources of vast_pipelines."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
