"""Dagster resources: every outside system the runbook touches, behind one small client each."""
