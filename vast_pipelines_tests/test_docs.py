"""The operator's documents say what the code reads: every variable in `.env.example` and the README's table."""

import io
import re

from dotenv import dotenv_values

from vast_pipelines.config import ENVIRONMENT
from vast_pipelines_tests.conftest import REPO

# Read outside the resources: partitions and schedules at load time, the local instance, production storage.
OTHER_VARIABLES = {
    "VAST_PIPELINES_TIMEZONE",
    "VAST_PIPELINES_HISTORY_START",
    "VAST_PIPELINES_HOME",
    "DAGSTER_POSTGRES_URL",
}


def _code_variables() -> set[str]:
    return {var for _, fields in ENVIRONMENT.values() for var in fields.values()} | OTHER_VARIABLES


def test_env_example_lists_every_variable_with_its_default_and_parses():
    text = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^# ([A-Z_]+)=", text, re.M))
    assert listed == _code_variables()
    for var in listed:
        assert re.search(rf"^# {var}: .+\n#   default: .+\n# {var}=", text, re.M), var
    # Uncommented as it is, the file is a valid .env: channel names starting with # survive.
    values = dotenv_values(stream=io.StringIO(re.sub(r"^# ([A-Z_]+=)", r"\1", text, flags=re.M)))
    assert values["SLACK_ALERTS_CHANNEL"] == "#platform-alerts" and values["VAST_EMERGENCY_ACTIONS"] == "dry-run"


def test_readme_configuration_table_names_every_variable_and_links_the_deploy_files():
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("### The analytics database")]
    assert set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M)) == _code_variables()
    for link in (
        "docs/operations.md",
        "docs/benchmarks.md",
        "deploy/Dockerfile",
        "deploy/helm/values.yaml",
        "deploy/vllm/Dockerfile",
        "deploy/dagster.postgres.yaml",
        ".env.example",
    ):
        assert f"]({link}" in readme, link
    assert "scripts/ui --stop" in readme and "scripts/ui --background" in readme
    assert "shortens that wait to 1 s" in readme  # the demo says where it differs from the guide
