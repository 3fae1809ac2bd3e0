"""The Vast.ai operations runbook as a Dagster code location."""
