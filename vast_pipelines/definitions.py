"""The code location: everything under ``vast_pipelines/defs/`` is discovered."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """All assets, checks, jobs, schedules, sensors and resources of vast_pipelines."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
