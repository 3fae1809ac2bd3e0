import dagster as dg

from vast_pipelines.config import build_resources


@dg.definitions
def resources() -> dg.Definitions:
    """The code location's resources, configured from the environment."""
    return dg.Definitions(resources=build_resources())
