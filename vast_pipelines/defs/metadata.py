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


# The Dagster UI renders a Markdown metadata value inline only under 1,000 characters (longer ones open behind
# "[Show Markdown]"); a report's summary is kept under that so its opening lines read on the asset's page.
INLINE_MARKDOWN_LIMIT = 1000
_MORE = "  \n… (the whole report: `report`)"


def report_entries(markdown: str) -> dict[str, dg.MarkdownMetadataValue]:
    """``summary`` (the report's opening lines, shown inline) and ``report`` (all of it), in that order."""
    kept: list[str] = []
    size = len(_MORE)
    for line in markdown.split("  \n"):
        if size + len(line) + 3 >= INLINE_MARKDOWN_LIMIT:
            break
        kept.append(line)
        size += len(line) + 3
    if sum(line.lstrip().startswith("```") for line in kept) % 2:
        kept.append("```")  # cut inside a code block: close it
    summary = "  \n".join(kept) + ("" if len(kept) >= len(markdown.split("  \n")) else _MORE)
    return {"summary": dg.MetadataValue.md(summary), "report": dg.MetadataValue.md(markdown)}


def summary_first(metadata: dict) -> dict:
    """``metadata`` with its ``summary`` first, so the asset's page opens on it."""
    return {key: metadata[key] for key in ("summary", *(k for k in metadata if k != "summary")) if key in metadata}
