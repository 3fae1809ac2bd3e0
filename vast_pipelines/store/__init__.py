"""The one way to reach the analytics database: one store per table group, its DDL and SQL beside its code.

``AnalyticsDatabase`` (``resources/database.py``) owns the connection: it opens transactions (under a sensor
tick's limits), explains database errors to operators, checks ``vast_ai_costs`` and migrates the schema. It
hands out the stores: ``database.outbox.claim_due(...)``, ``database.cost_history.read(...)``. Each store method
is one transaction; the few pieces another store's transaction needs (queueing the message that announces a
claim, refreshing ``spend_minutes`` before the spend statement) are module functions taking that transaction's
``Connection``.

Every statement binds its parameters; none is built from data. Each table group's module starts with its DDL as
versioned migrations (``Migration``): version 1 is every table as it stood before versions were kept, written to
be repeatable so that a database created then is adopted by running it; each later version (numbered across the
package, once) alters what exists and runs exactly once (``store/schema.py``).

    vast_ai_costs (written by agent-router) ─► cost_table, costs, spend (+ spend_minutes), cost_history
    the pipelines' own tables ─► health, worker_changes, outbox (+ spool files), alerts, incidents,
                                  cost_reports, insights, demo (embedded database only)
    shared ─► base (Store, Migration), errors (what an operator can act on), schema (the migrations)
"""
