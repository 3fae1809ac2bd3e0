"""The layers of docs/architecture.md, enforced: each package imports only what its layer may see.

Read from the source with `ast` (nothing is imported), so a violation names the file, the line and the rule.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vast_pipelines"

# Standard-library modules that do I/O, wait or start processes: a decision or a value type never needs them.
IO_STDLIB = {
    "asyncio", "http", "logging", "multiprocessing", "os", "pathlib", "select", "shutil", "signal",
    "smtplib", "socket", "sqlite3", "ssl", "subprocess", "tempfile", "threading", "time", "urllib.request",
}  # fmt: skip


@dataclass(frozen=True)
class Import:
    """One imported module, where it is imported."""

    module: str
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file.relative_to(PACKAGE.parent)}:{self.line} imports {self.module}"


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(layer: str) -> list[Import]:
    """Every import in the package `vast_pipelines.<layer>` (or the module `vast_pipelines/<layer>.py`)."""
    root = PACKAGE / layer.replace(".", "/")
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    found = []
    for path in files:
        package = _module_of(path) if path.name == "__init__.py" else _module_of(path).rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(alias.name, path, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    module = f"{base}.{node.module}" if node.module else base
                else:
                    module = node.module or ""
                found += [Import(module, path, node.lineno)]
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _stdlib(module: str) -> bool:
    return _top(module) in sys.stdlib_module_names or module == "__future__"


def _pure(module: str) -> bool:
    return _stdlib(module) and not _within(module, *IO_STDLIB)


def _ours(*layers: str) -> tuple[str, ...]:
    return tuple(f"vast_pipelines.{layer}" for layer in layers)


# layer -> (what it may import, why)
CONTRACTS: dict[str, tuple[object, str]] = {
    "domain": (
        lambda m: _pure(m) or _within(m, *_ours("domain")),
        "value types: the standard library's pure modules and each other only",
    ),
    "policy": (
        lambda m: _pure(m) or _within(m, *_ours("domain", "policy")),
        "decisions: no I/O, no Dagster, no text; domain values in, decisions out",
    ),
    "reports": (
        lambda m: (
            _pure(m)
            or _within(m, *_ours("domain", "policy", "reports"))
            or _top(m) in {"matplotlib", "PIL", "yaml", "tabulate"}
        ),
        "text and charts from domain values and decisions; no I/O, no Dagster",
    ),
    "store": (
        lambda m: (
            not _within(m, *_ours("policy", "reports", "defs", "resources", "config", "notifications"))
            and _top(m) != "dagster"
        ),
        "the database's tables and their SQL: rows in, domain values out; no decisions, no Dagster",
    ),
    "resources": (
        lambda m: not _within(m, *_ours("policy", "reports", "defs", "notifications")),
        "Dagster resources doing I/O: they return domain values and never decide",
    ),
    "connect": (
        lambda m: not _within(m, *_ours("policy", "reports", "defs", "store", "resources", "notifications")),
        "how the code location reaches outside systems (HTTP, the database URL, the embedded server); "
        "beneath the resources, knowing nothing of decisions, text, tables or wiring",
    ),
}


@pytest.mark.parametrize("layer", sorted(CONTRACTS))
def test_layer_imports_only_what_its_contract_allows(layer):
    allowed, why = CONTRACTS[layer]
    broken = [str(i) for i in imports_of(layer) if not allowed(i.module)]
    assert not broken, f"{layer} is {why}; these imports break it:\n" + "\n".join(broken)


def _resource_classes(path: Path) -> list[str]:
    """The classes of a module that subclass ``dg.ConfigurableResource`` (or ``ConfigurableResource``) directly."""
    found = []
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(base) for base in node.bases]
            if any(base.rpartition(".")[2] == "ConfigurableResource" for base in bases):
                found.append(node.name)
    return found


def test_every_module_directly_in_resources_defines_a_dagster_resource():
    """resources/ holds Dagster resources only: a plain helper belongs in connect/ (or beside its one user)."""
    modules = sorted(p for p in (PACKAGE / "resources").glob("*.py") if p.name != "__init__.py")
    assert modules, "resources/ has no modules"
    bare = [str(p.relative_to(PACKAGE.parent)) for p in modules if not _resource_classes(p)]
    assert not bare, "these modules of resources/ define no dg.ConfigurableResource:\n" + "\n".join(bare)


# Modules of defs/ that every domain may use: the shared wiring, and the few things one domain offers the others.
DEFS_PUBLIC = {
    "vast_pipelines.defs.guards",
    "vast_pipelines.defs.metadata",
    "vast_pipelines.defs.resources",
    "vast_pipelines.defs.runbook",
    "vast_pipelines.defs.probes",
    "vast_pipelines.defs.cost_freshness",
    "vast_pipelines.defs.alerts.delivery",
    # The rollup every report reads through: a report never skips a day that was not rolled up.
    "vast_pipelines.defs.costs.history",
    "vast_pipelines.defs.costs.partitions",
    "vast_pipelines.defs.costs.source",
}


def _domains() -> list[str]:
    return sorted(p.name for p in (PACKAGE / "defs").iterdir() if p.is_dir() and (p / "__init__.py").exists())


@pytest.mark.parametrize("domain", _domains())
def test_a_defs_domain_uses_only_the_public_modules_of_another(domain):
    own = f"vast_pipelines.defs.{domain}"
    broken = [
        str(i)
        for i in imports_of(f"defs.{domain}")
        if _within(i.module, "vast_pipelines.defs") and not _within(i.module, own) and i.module not in DEFS_PUBLIC
    ]
    assert not broken, f"defs/{domain} reaches into another domain's internals:\n" + "\n".join(broken)


def test_the_contracts_catch_a_violation(tmp_path, monkeypatch):
    """The checker itself: a policy module importing Dagster and a resource importing policy are both caught."""
    fake = tmp_path / "vast_pipelines"
    (fake / "policy").mkdir(parents=True)
    (fake / "policy" / "bad.py").write_text("import dagster as dg\nfrom ..resources import x\nimport os.path\n")
    (fake / "resources").mkdir()
    (fake / "resources" / "bad.py").write_text("from vast_pipelines.policy.bad import y\nimport httpx\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    policy_ok, _ = CONTRACTS["policy"]
    assert [i.module for i in imports_of("policy") if not policy_ok(i.module)] == [
        "dagster",
        "vast_pipelines.resources",
        "os.path",
    ]
    resources_ok, _ = CONTRACTS["resources"]
    assert [i.module for i in imports_of("resources") if not resources_ok(i.module)] == ["vast_pipelines.policy.bad"]


def test_the_resource_check_catches_a_helper_module(tmp_path):
    """A module of plain functions is caught; a resource subclassing ``dg.ConfigurableResource`` passes."""
    helper = tmp_path / "helper.py"
    helper.write_text("def backoff():\n    pass\n\nclass Settings:\n    pass\n")
    resource = tmp_path / "client.py"
    resource.write_text("import dagster as dg\n\nclass Client(dg.ConfigurableResource):\n    url: str\n")
    assert _resource_classes(helper) == []
    assert _resource_classes(resource) == ["Client"]
