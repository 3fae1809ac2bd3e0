"""How the code location reaches outside systems: HTTP with backoff, the database URL, the embedded PostgreSQL.

Plain helpers, no Dagster resources: the resources in ``resources/`` and the scripts build on them.
"""
