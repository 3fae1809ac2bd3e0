"""Cost charts as PNG bytes (matplotlib's Agg canvas: no display, no pyplot global state)."""

from __future__ import annotations

import io
from decimal import Decimal
from itertools import accumulate

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.costs import DayCost
from vast_pipelines.policy.reviews import Review
from vast_pipelines.policy.spend import daily_verdict

_BAND_COLOURS = {"excellent": "#2e7d32", "moderate": "#f9a825", "high": "#c62828"}
_MODEL_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#5d4037", "#9e9e9e")
_TOP_MODELS = 5
_BAR_WIDTH = 0.8


def _png(fig: Figure) -> bytes:
    """The figure as a PNG of at most 128 colours: a flat-coloured chart looks the same, in a quarter of the bytes
    (kept in every report's metadata and uploaded to Slack) and less time to encode than true colour."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE).save(buffer, format="png")
    return buffer.getvalue()


def _twin(ax: Axes) -> Axes:
    """A second y axis on the right; its x axis (the same as ``ax``'s) is not drawn twice."""
    twin = ax.twinx()
    twin.xaxis.set_visible(False)
    return twin


def _bars(x: list[float], heights: list[float], bottoms: list[float], **style: object) -> PolyCollection:
    """Bars as one collection: drawn and laid out as a single artist, not one rectangle each."""
    half = _BAR_WIDTH / 2
    verts = [
        [(at - half, low), (at - half, low + height), (at + half, low + height), (at + half, low)]
        for at, height, low in zip(x, heights, bottoms, strict=True)
    ]
    return PolyCollection(verts, zorder=2, linewidth=0, antialiased=False, **style)


def _cost(day: DayCost) -> float:
    return float(day.totals.cost or 0) if day.has_data else 0.0


def weekly_chart(review: Review, zone: str, limits: Thresholds = GUIDE) -> bytes:
    """Daily cost bars coloured by the guide's bands, the band lines, and requests per day."""
    # Fixed margins: an automatic layout engine doubles the rendering time.
    fig = Figure(figsize=(8, 4.2), dpi=100)
    fig.subplots_adjust(left=0.08, right=0.9, top=0.91, bottom=0.15)
    ax = fig.subplots()
    labels = [d.day.strftime("%a\n%d %b") for d in review.days]
    costs = [_cost(d) for d in review.days]
    colours = [
        _BAND_COLOURS[daily_verdict(c, d.totals.requests, limits)] if d.has_data else "#e0e0e0"
        for c, d in zip(costs, review.days, strict=True)
    ]
    x = list(range(len(labels)))
    ax.add_collection(_bars(x, costs, [0.0] * len(x), facecolors=colours))
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.6, len(x) - 0.4)
    for at, day in zip(x, review.days, strict=True):
        if not day.has_data:
            ax.annotate("no data", (at, 0), ha="center", va="bottom", fontsize=8)
    ax.axhline(limits.daily_excellent_below, color=_BAND_COLOURS["moderate"], linestyle="--", linewidth=1)
    ax.axhline(limits.daily_moderate_below, color=_BAND_COLOURS["high"], linestyle="--", linewidth=1)
    ax.set_ylabel("USD per day")
    ax.set_ylim(0, max([*costs, limits.daily_moderate_below]) * 1.15)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    requests = _twin(ax)
    requests.plot(x, [d.totals.requests for d in review.days], color="#37474f", marker="o", linewidth=1.2)
    requests.set_ylabel("requests")
    requests.set_ylim(bottom=0)
    ax.set_title(f"Daily cost, week of {review.first:%Y-%m-%d} ({zone})", y=1.01)
    ax.legend(
        handles=[Patch(color=c, label=f"{name}") for name, c in _BAND_COLOURS.items()],
        loc="upper left",
        fontsize=8,
    )
    return _png(fig)


def monthly_chart(
    review: Review, rows_by_model: dict[str, list[float]], zone: str, limits: Thresholds = GUIDE
) -> bytes:
    """Daily cost stacked by model, with the running total against the budget lines."""
    fig = Figure(figsize=(10, 4.6), dpi=100)
    fig.subplots_adjust(left=0.07, right=0.92, top=0.92, bottom=0.17)
    ax = fig.subplots()
    x = list(range(1, len(review.days) + 1))
    bottom = [0.0] * len(x)
    for i, (model, costs) in enumerate(rows_by_model.items()):
        ax.add_collection(_bars(x, costs, bottom, label=model, facecolors=_MODEL_COLOURS[i % len(_MODEL_COLOURS)]))
        bottom = [b + c for b, c in zip(bottom, costs, strict=True)]
    ax.set_ylabel("USD per day")
    ax.set_xlim(0.4, len(x) + 0.6)
    ax.set_ylim(0, max([*bottom, 0.0]) * 1.05 or 1.0)
    ax.set_xticks(x[::2] if len(x) > 16 else x)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    running = _twin(ax)
    cumulative = list(accumulate(_cost(d) for d in review.days))
    running.plot(x, cumulative, color="#212121", linewidth=1.6)
    for amount, colour, name in (
        (limits.budget_target, _BAND_COLOURS["excellent"], "target"),
        (limits.budget_alert, _BAND_COLOURS["moderate"], "alert"),
        (limits.hard_cap, _BAND_COLOURS["high"], "hard cap"),
    ):
        running.axhline(amount, color=colour, linestyle="--", linewidth=1)
        running.annotate(f"{name} ${amount:,.0f}", (x[-1], amount), fontsize=7, ha="right", va="bottom", color=colour)
    running.set_ylabel("USD month to date (line)")
    running.set_ylim(0, max([*cumulative, limits.hard_cap]) * 1.1)
    if rows_by_model:
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncol=6, fontsize=8, frameon=False)
    ax.set_title(f"Cost by model, {review.first:%B %Y} ({zone})", y=1.01)
    return _png(fig)


def model_series(review: Review, history_rows: list) -> dict[str, list[float]]:
    """Daily cost per model for the chart: the top models by cost, the rest as "other"."""
    top = [m.model for m in review.models[:_TOP_MODELS]]
    index = {d.day: i for i, d in enumerate(review.days)}
    series: dict[str, list[float]] = {m: [0.0] * len(review.days) for m in top}
    for row in history_rows:
        if row.day not in index or row.totals.cost is None:
            continue
        name = row.model if row.model in series else "other"
        series.setdefault(name, [0.0] * len(review.days))[index[row.day]] += float(row.totals.cost or Decimal(0))
    return series
