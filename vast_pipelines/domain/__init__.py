"""Value types that I/O code and decisions share: what a resource returns and a policy judges.

Nothing here decides, formats text or does I/O, and nothing here imports from ``policy``, ``resources``,
``defs``, ``reports`` or Dagster: both sides import this, never each other.
"""
