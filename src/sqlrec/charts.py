"""The reports' charts: matplotlib drawn to inline SVG, so that ticks, legends, colours and layout are the library's.

Why matplotlib and not Vega-Lite: the report stays one static file with no script at all. It opens offline, in a
mail client or a BI tool's HTML pane, and prints as it shows; Vega-Lite would inline about 800 kB of JavaScript into
every report and draw nothing without it. Text stays SVG text (`svg.fonttype = none`): selectable, and readable by
the browser test that checks the tick labels. Every chart has a legend, and every series' marks and its legend entry
carry ids (`<chart>-series:<name>`, `<chart>-legend:<name>`) so that a test can match their colours.

matplotlib is imported here only, and this module only by the report writers: `sqlrec recommend` never loads it.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e",
           "#9498a0")
GREY = "#9498a0"
WIDTH_INCHES = 7.2
ROUND_STEPS = (1, 2, 2.5, 5, 10)  # tick steps: 1, 2, 2.5 or 5 times a power of ten

STYLE = {
    "svg.fonttype": "none",  # text stays text
    "svg.hashsalt": "sqlrec",  # the same data gives the same file
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "axes.axisbelow": True,
    "axes.formatter.useoffset": False,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Interval:
    """One labelled estimate: a dot at `value`, a whisker from `low` to `high`; hollow when not significant."""
    label: str
    value: float
    low: float | None = None
    high: float | None = None
    colour: str = PALETTE[0]
    filled: bool = True


def colours_for(names: Sequence[str], fixed: Mapping[str, str] | None = None) -> dict[str, str]:
    """One palette colour per name, in order; `fixed` names keep theirs."""
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    colours.update(fixed or {})
    return colours


class _Chart:
    """One figure; `svg()` returns it as an inline <svg> element."""

    _count = 0

    def __init__(self, height_inches: float):
        _Chart._count += 1
        self.id = f"chart{_Chart._count}"
        self.figure = Figure(figsize=(WIDTH_INCHES, height_inches), layout="constrained")
        self.axes = self.figure.add_subplot()

    def tag(self, artist, name: str, part: int | str = "") -> None:
        """Name a series' mark in the SVG: `<chart>-series<part>:<name>` (part tells apart the bars of one series)."""
        artist.set_gid(f"{self.id}-series{part}:{name}")

    def legend(self, top_down: bool = False) -> None:
        """The legend beside the plot, each entry tagged with its series' name (`top_down`: series were drawn from
        the bottom row up, so the legend lists them in reverse to match the rows)."""
        handles, labels = self.axes.get_legend_handles_labels()
        if top_down:
            handles, labels = handles[::-1], labels[::-1]
        legend = self.axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        for handle, label in zip(legend.legend_handles, labels):
            handle.set_gid(f"{self.id}-legend:{unlabel(label)}")

    def svg(self, description: str) -> str:
        self.axes.xaxis.label.set_gid(f"{self.id}-xlabel")
        buffer = io.StringIO()
        FigureCanvasSVG(self.figure).print_svg(buffer, metadata={"Date": None, "Creator": None})
        text = buffer.getvalue()
        start = text.index("<svg")
        # scales with the page (the CSS sets width: 100%; the viewBox keeps the shape); a title for screen readers
        head, rest = text[start:].split(">", 1)
        return f'{head} role="img" aria-label="{_attr(description)}"><title>{_escape(description)}</title>{rest}'


def _styled(draw):
    """Draw inside the reports' style, leaving the caller's matplotlib settings (a notebook's) as they were."""
    @functools.wraps(draw)
    def styled(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled


@_styled
def interval_chart(rows: Sequence[Interval], axis_label: str, zero_line: bool = False) -> str:
    """Labelled dots with interval whiskers, one row each (the first on top)."""
    rows = [r for r in rows if not missing(r.value)]
    if not rows:
        return ""
    chart = _Chart(0.6 + 0.32 * len(rows))
    axes = chart.axes
    for position, row in enumerate(reversed(rows)):
        has_interval = not missing(row.low) and not missing(row.high)
        error = [[row.value - row.low], [row.high - row.value]] if has_interval else None
        container = axes.errorbar([row.value], [position], xerr=error, fmt="o", color=row.colour, ecolor=row.colour,
                                  markerfacecolor=row.colour if row.filled else "white", markersize=7, capsize=3,
                                  elinewidth=2, label=label(row.label))
        for part, artist in enumerate((container.lines[0], *container.lines[2])):
            chart.tag(artist, row.label, part)
    if zero_line:
        axes.axvline(0, color="#777777", linestyle="--", linewidth=1)
    axes.set_yticks(range(len(rows)), [label(r.label) for r in reversed(rows)])
    axes.set_ylim(-0.6, len(rows) - 0.4)
    axes.grid(axis="y", visible=False)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=ROUND_STEPS))
    axes.set_xlabel(label(axis_label))
    chart.legend(top_down=True)
    return chart.svg(f"{axis_label}, per {', '.join(r.label for r in rows)}")


@_styled
def bar_chart(groups: Sequence[str], series: Mapping[str, Sequence[float | None]], colours: Mapping[str, str],
              axis_label: str, integer: bool = False) -> str:
    """Horizontal bars: one group of bars per entry of `groups`, one bar per series (the legend names them)."""
    names = [name for name, values in series.items() if any(not missing(v) for v in values)]
    if not names or not groups:
        return ""
    height = 0.8 / len(names)
    chart = _Chart(0.7 + 0.22 * len(groups) * len(names) + 0.15 * len(groups))
    axes = chart.axes
    for i, name in enumerate(names):
        values = [0.0 if missing(v) else v for v in series[name]]
        positions = [len(groups) - 1 - g + 0.4 - height * (i + 0.5) for g in range(len(groups))]
        bars = axes.barh(positions, values, height=height * 0.9, color=colours.get(name, GREY), label=label(name))
        for g, bar in enumerate(bars):
            chart.tag(bar, name, g)
    axes.set_yticks([len(groups) - 1 - g for g in range(len(groups))], [label(g) for g in groups])
    axes.grid(axis="y", visible=False)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=ROUND_STEPS, integer=integer))
    axes.set_xlabel(label(axis_label))
    chart.legend()
    return chart.svg(f"{axis_label} by {', '.join(groups)}")


@_styled
def line_chart(series: Mapping[str, Sequence[tuple[float, float | None]]], colours: Mapping[str, str],
               x_label: str, y_label: str, integer_x: bool = True) -> str:
    """One line per series over x (rounds or k: whole numbers by default)."""
    drawn = {name: [(x, y) for x, y in points if not missing(y)] for name, points in series.items()}
    drawn = {name: points for name, points in drawn.items() if points}
    if not drawn:
        return ""
    chart = _Chart(3.0)
    axes = chart.axes
    for name, points in drawn.items():
        (line,) = axes.plot([x for x, _ in points], [y for _, y in points], marker="o", markersize=4, linewidth=2,
                            color=colours.get(name, GREY), label=label(name))
        chart.tag(line, name)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=ROUND_STEPS, integer=integer_x))
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=ROUND_STEPS))
    axes.set_xlabel(label(x_label))
    axes.set_ylabel(label(y_label))
    chart.legend()
    return chart.svg(f"{y_label} by {x_label}")


@_styled
def scatter_chart(points: Sequence[tuple[str, float | None, float | None]], colours: Mapping[str, str],
                  x_label: str, y_label: str, x_reference: float | None = None) -> str:
    """One labelled point per entry (name, x, y): a trade-off between two measures, better towards the top."""
    points = [(name, x, y) for name, x, y in points if not missing(x) and not missing(y)]
    if not points:
        return ""
    chart = _Chart(3.2)
    axes = chart.axes
    for name, x, y in points:
        dots = axes.scatter([x], [y], s=60, color=colours.get(name, GREY), label=label(name), zorder=3)
        chart.tag(dots, name)
        axes.annotate(label(name), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8, color="#333333")
    if x_reference is not None:
        axes.axvline(x_reference, color="#777777", linestyle="--", linewidth=1)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=ROUND_STEPS))
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=ROUND_STEPS))
    axes.set_xlabel(label(x_label))
    axes.set_ylabel(label(y_label))
    chart.legend()
    return chart.svg(f"{y_label} against {x_label}")


def label(name: str) -> str:
    """A name from the data or the config as matplotlib shows it literally: `$` would start mathematics, and a
    leading `_` would hide the entry from the legend."""
    text = str(name).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def unlabel(text: str) -> str:
    return text.replace(r"\$", "$").removeprefix(" ")


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: str) -> str:
    return _escape(text).replace('"', "&quot;")
