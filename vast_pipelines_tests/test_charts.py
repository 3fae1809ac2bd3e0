"""The review charts: what they draw."""

import io
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from PIL import Image

from vast_pipelines.domain.costs import CostTotals, HistoryRow
from vast_pipelines.policy.reviews import monthly_review, weekly_review
from vast_pipelines.reports import charts

UTC = ZoneInfo("UTC")
HIGH, EXCELLENT = (0xC6, 0x28, 0x28), (0x2E, 0x7D, 0x32)


def _rows(first: date, days: int, cost_of, models=("llama-2-7b",)) -> list[HistoryRow]:
    return [
        HistoryRow(first + timedelta(days=i), model, CostTotals(requests=100 + i, cost=Decimal(cost_of(i))))
        for i in range(days)
        for model in models
        if cost_of(i) is not None
    ]


def _weekly(cost_of):
    rows = _rows(date(2026, 6, 1), 14, cost_of)
    return weekly_review(rows, {date(2026, 6, 1) + timedelta(days=i) for i in range(14)}, date(2026, 6, 8), UTC)


def _monthly(models):
    rows = _rows(date(2026, 2, 1), 28, lambda i: f"{1 + i % 5}.25", models)
    review = monthly_review(rows, {r.day for r in rows}, date(2026, 2, 1), UTC)
    return review, charts.model_series(review, rows)


def _pixels(png: bytes, wanted: tuple[int, int, int]) -> int:
    """How many pixels of the chart have (nearly) colour ``wanted``."""
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"  # a palette image: a quarter of true colour's bytes
    return sum(
        count
        for count, colour in image.convert("RGB").getcolors(maxcolors=256)
        if max(abs(a - b) for a, b in zip(wanted, colour, strict=True)) <= 8
    )


def test_the_weekly_chart_colours_each_day_by_the_guides_band():
    # 8 June $12 (high), 9 June no row at all (no data: no bar), the rest $2 (excellent).
    review = _weekly(lambda i: "12" if i == 7 else None if i == 8 else "2")
    png = charts.weekly_chart(review, "UTC")
    assert Image.open(io.BytesIO(png)).size == (800, 420)
    quiet = charts.weekly_chart(_weekly(lambda i: "2"), "UTC")
    # The legend and the band lines carry the colours too, but a bar is thousands of pixels.
    assert _pixels(png, HIGH) > _pixels(quiet, HIGH) + 2000
    assert _pixels(quiet, EXCELLENT) > _pixels(png, EXCELLENT) + 2000


def test_the_monthly_chart_stacks_a_colour_per_model():
    four, four_series = _monthly(("a", "b", "c", "d"))
    one, one_series = _monthly(("a",))
    fourth_model = (0xEF, 0x6C, 0x00)  # the fourth model's bars
    many, single = charts.monthly_chart(four, four_series, "UTC"), charts.monthly_chart(one, one_series, "UTC")
    assert Image.open(io.BytesIO(many)).size == (1000, 460)
    assert _pixels(many, fourth_model) > 2000 and _pixels(single, fourth_model) < 100
