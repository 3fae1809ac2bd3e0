"""Metadata the Dagster UI shows as the guide prints it: lists as tables, charts as images, figures rounded."""

from __future__ import annotations

import base64
from typing import Any

import dagster as dg

from vast_pipelines.reports.figures import figure

# A recommendation's fields, as the table in the UI shows them.
RECOMMENDATION_COLUMNS = [
    ("action", "string"),
    ("model", "string"),
    ("field", "string"),
    ("suggested_value", "string"),
    ("estimated_saving_usd", "float"),
    ("reason", "string"),
]


def records_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> dg.TableMetadataValue:
    """Records as a table the UI renders as one (not raw JSON); float columns rounded by their name, a missing
    value left empty."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({name: _cell(kind, name, row.get(name)) for name, kind in columns}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns]),
    )


def _cell(kind: str, name: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "float":
        return figure(name, float(value))
    if kind == "int":
        return int(value)
    return str(value)


def chart_markdown(png: bytes, title: str) -> dg.MarkdownMetadataValue:
    """A PNG chart as Markdown the UI renders as an image (its Markdown allows ``data:`` image sources)."""
    return dg.MetadataValue.md(f"**{title}**\n\n![{title}](data:image/png;base64,{base64.b64encode(png).decode()})")
