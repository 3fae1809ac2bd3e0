"""Pure decision logic from the operations guide: no I/O, no Dagster."""
