"""The value types stand alone: ``vast_pipelines.domain`` imports only the standard library and itself, never the
layers that share it (policy, resources, defs, reports), Dagster or an I/O library."""

import ast
import sys
from pathlib import Path

from vast_pipelines_tests.conftest import REPO


def outside_imports(path: Path) -> set[str]:
    """What ``path`` imports beyond the standard library and ``vast_pipelines.domain``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return {
        name
        for name in names
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("vast_pipelines.domain")
    }


def test_domain_imports_only_the_standard_library_and_itself():
    modules = sorted((REPO / "vast_pipelines" / "domain").glob("*.py"))
    assert len(modules) > 5
    for path in modules:
        assert not outside_imports(path), f"{path.name} imports {sorted(outside_imports(path))}"


def test_the_check_names_what_a_domain_module_must_not_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import dagster as dg\n"
        "from vast_pipelines.policy.spend import daily_verdict\n"
        "from . import periods\n"
        "from datetime import date\n"
        "from vast_pipelines.domain.spend import SpendSummary\n"
    )
    assert outside_imports(sample) == {"dagster", "vast_pipelines.policy.spend", "."}
