import dagster as dg

from vast_pipelines.config import build_resources, validate_environment


@dg.definitions
def resources() -> dg.Definitions:
    """The code location's resources, configured from the environment (refused here if a value is bad)."""
    validate_environment()
    return dg.Definitions(resources=build_resources())
