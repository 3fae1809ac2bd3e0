"""The guide's bands as asset check results."""

import dagster as dg

from vast_pipelines.reports.figures import guide_figures


def band_check(name: str, verdict: str, *, good: str, bad: str, metadata: dict[str, float]) -> dg.AssetCheckResult:
    """Passes on ``good``; fails as an error on ``bad``; otherwise (no data included) fails as a warning."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=verdict == good,
        severity=dg.AssetCheckSeverity.ERROR if verdict == bad else dg.AssetCheckSeverity.WARN,
        metadata={"verdict": verdict, **guide_figures(metadata)},
    )
