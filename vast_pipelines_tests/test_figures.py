from decimal import Decimal

import pytest

from vast_pipelines.reports.figures import dollars, guide_figures, per_request, rounded


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (104.18004690579279, 2, 104.18),
        (16.695, 2, 16.70),  # PostgreSQL rounds numeric half away from zero; Python's round() gives 16.69
        (-2.675, 2, -2.68),
        (0.011920052356824811, 5, 0.01192),
        (Decimal("0.000005"), 5, 0.00001),
        (None, 2, None),
    ],
)
def test_rounding_is_postgresqls(value, places, shown):
    assert rounded(value, places) == shown


def test_metadata_figures_round_by_their_guide_names():
    figures = guide_figures(
        {
            "month_to_date": 104.18004690579279,
            "avg_cost_per_request": 0.011920052356824811,
            "p95_sec": 7.123456,
            "cold_start_rate": 0.41666,
            "requests": 7,
            "verdict": "high",
        }
    )
    assert figures == {
        "month_to_date": 104.18,
        "avg_cost_per_request": 0.01192,
        "p95_sec": 7.12,
        "cold_start_rate": 0.42,
        "requests": 7,
        "verdict": "high",
    }
    assert dollars(Decimal("180.123")) == 180.12 and per_request(180.123 / 5) == 36.0246


def test_a_reports_summary_fits_the_uis_inline_markdown_and_closes_its_code_block():
    from vast_pipelines.defs.metadata import INLINE_MARKDOWN_LIMIT, report_entries, summary_first

    lines = [
        "*Weekly cost review: 2026-11-23*",
        "```",
        *[f"2026-11-{d:02d} Mon   $1.16   541" for d in range(40)],
        "```",
    ]
    markdown = "  \n".join(lines)
    entries = report_entries(markdown)
    summary = entries["summary"].value
    assert len(summary) < INLINE_MARKDOWN_LIMIT < len(markdown)
    assert summary.startswith("*Weekly cost review") and summary.count("```") == 2
    assert summary.endswith("… (the whole report: `report`)") and entries["report"].value == markdown
    short = report_entries("one  \ntwo")["summary"].value
    assert short == "one  \ntwo"
    assert list(summary_first({"a": 1, "report": 2, **entries})) == ["summary", "a", "report"]
