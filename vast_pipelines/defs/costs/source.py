"""`vast_ai_costs`: agent-router's request log, where every cost asset's lineage starts."""

import dagster as dg

vast_ai_costs = dg.AssetSpec(
    "vast_ai_costs",
    group_name="costs",
    kinds={"postgres"},
    description="One row per request served, written by agent-router into the analytics database (TimescaleDB). "
    "The pipelines only read it: the cost history, the health check's spend, the troubleshooting tables, the "
    "insights and the per-minute protection all start here.",
    metadata={
        "dagster/table_name": "vast_ai_costs",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("timestamp", "timestamptz", description="when the request was served"),
                dg.TableColumn("model", "text", description="the model that served it"),
                dg.TableColumn("cost", "numeric", description="USD; NULL, NaN or negative rows are counted apart"),
                dg.TableColumn("duration", "double precision", description="seconds"),
                dg.TableColumn("cold_start", "boolean", description="whether a worker had to start for it"),
            ]
        ),
    },
)
