"""Small matplotlib charts rendered to PNG bytes for the offline quality report.

Figures are built with ``matplotlib.figure.Figure`` and rendered by Agg, so
no pyplot state or display backend is involved. PNGs carry no software or
time metadata: the same data gives the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

_SIZE = (7.0, 3.2)
_DPI = 96
_BAR_COLOUR = "#3b6ea5"


def png_data_uri(png: bytes) -> str:
    """Return ``png`` as a ``data:image/png;base64,...`` URI for an ``<img>`` tag."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def bar_chart(
    labels: Sequence[str],
    values: Sequence[int],
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    log_y: bool = False,
) -> bytes:
    """Draw a vertical bar chart.

    Args:
        labels: Category labels, drawn left to right.
        values: One value per label.
        title: Chart title (None: none, the page captions the chart).
        xlabel: Label of the category axis (None: none).
        ylabel: Label of the value axis (None: none).
        log_y: Use a logarithmic value axis (for long-tailed counts).

    Returns:
        PNG bytes.
    """
    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(labels)))
    ax.bar(positions, values, color=_BAR_COLOUR)
    ax.set_xticks(positions, labels, rotation=90 if len(labels) > 12 else 0, fontsize=7)
    if log_y:
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)  # a bar of 1 stays visible
    _label(ax, title, xlabel, ylabel)
    return _png(fig)


def _label(ax: object, title: str | None, xlabel: str | None, ylabel: str | None) -> None:
    """Set whichever of the title and axis labels are given."""
    if title:
        ax.set_title(title)  # type: ignore[attr-defined]
    if xlabel:
        ax.set_xlabel(xlabel)  # type: ignore[attr-defined]
    if ylabel:
        ax.set_ylabel(ylabel)  # type: ignore[attr-defined]


def stacked_histogram(
    groups: Mapping[str, Sequence[float]],
    colours: Mapping[str, str],
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = "pairs",
    legend: Mapping[str, str] | None = None,
    bins: int = 40,
) -> bytes:
    """Draw a histogram of several groups stacked on shared bins.

    Args:
        groups: Values per group, e.g. match weights per decision; drawn in
            the mapping's order.
        colours: Colour per group name.
        title: Chart title.
        xlabel: Label of the value axis.
        ylabel: Label of the count axis.
        legend: The legend's name for each group (default: the group's name);
            an empty mapping draws no legend (the page gives one).
        bins: Number of equal-width bins over the range of all values.

    Returns:
        PNG bytes.
    """
    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    names = [name for name, values in groups.items() if len(values) > 0]
    if names:
        ax.hist(
            [list(groups[name]) for name in names],
            bins=bins,
            stacked=True,
            label=[(legend or {}).get(name, name) for name in names],
            color=[colours.get(name, "#888888") for name in names],
        )
        if legend is None or legend:
            ax.legend(fontsize=8)
    _label(ax, title, xlabel, ylabel)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG with no metadata that varies between runs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
