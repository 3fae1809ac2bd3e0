"""pyproject.toml declares exactly what the code imports: the product's imports at runtime, the tests' and
benchmarks' in the dev extra."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from vast_pipelines_tests.conftest import REPO

# Runtime dependencies nothing imports by name: `dagster dev` serves the UI with the webserver, and the
# instance's storage (dagster.yaml) is dagster-postgres.
NOT_IMPORTED = {"dagster-webserver", "dagster-postgres"}
OWN = {"vast_pipelines", "vast_pipelines_tests", "benchmarks"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    return runtime, dev


def _imported(*folders: str) -> dict[str, set[str]]:
    """Distribution -> the files that import one of its modules, for every third-party import under ``folders``."""
    modules = packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in OWN:
                        continue
                    for dist in modules.get(top, [top]):
                        found.setdefault(_name(dist), set()).add(str(path.relative_to(REPO)))
    return found


def test_every_runtime_dependency_is_imported_by_the_product_and_every_import_declared():
    runtime, _ = _declared()
    product = _imported("vast_pipelines")
    assert set(product) - runtime == set(), {d: product[d] for d in set(product) - runtime}
    assert runtime - set(product) == NOT_IMPORTED


def test_what_only_tests_and_benchmarks_import_is_in_the_dev_extra():
    runtime, dev = _declared()
    used = _imported("vast_pipelines_tests", "benchmarks")
    assert set(used) - runtime - dev == set(), {d: used[d] for d in set(used) - runtime - dev}
    assert dev & runtime == set()
    assert {"pandas", "numpy", "dagster-graphql"} <= dev
