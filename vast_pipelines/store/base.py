"""What every store shares: the database it runs on, its migrations, and JSON documents PostgreSQL accepts."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection

SCHEMA = "vast_pipelines"


class Database(Protocol):
    """What a store needs from ``AnalyticsDatabase``: transactions, and the check of ``vast_ai_costs``."""

    def begin(self) -> AbstractContextManager[Connection]:
        """A transaction; a database error an operator can act on is raised as an ``OperatorError``."""
        ...

    def check_cost_table(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``CostTableMissing`` unless ``vast_ai_costs`` has ``columns`` with the guide's types."""
        ...


class Store:
    """A table group's reads and writes; each method is one transaction on ``database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _begin(self) -> AbstractContextManager[Connection]:
        return self._database.begin()


@dataclass(frozen=True)
class Migration:
    """Statements that bring the schema to ``version`` (several modules may add to version 1 only)."""

    version: int
    statements: tuple[str, ...]


def json_document(value: Any) -> str:
    """``value`` as JSON that PostgreSQL accepts: NaN and Infinity (never figures) become null."""
    return json.dumps(_finite(value), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
