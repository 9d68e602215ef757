"""SVG charts for the printable report, drawn on the server: no script, no CDN, and a
page that prints the same as it shows.

Each function turns a series into shapes (bars and a polyline in a fixed viewBox) that the
template draws as they are. A suppressed value ("< 20") is drawn as a zero-height bar
labelled with the text, so a small group never shows as a measurable bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broadcaster.kpis.suppression import Shown

WIDTH = 720
HEIGHT = 240
LEFT = 48
BOTTOM = 28
TOP = 16


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    line: str  # polyline points, "" for none
    target_y: float | None
    target_label: str
    ticks: list[tuple[float, str]]
    baseline: float


def _number(value: Shown | float | None) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _scale(values: Sequence[float], target: float | None) -> float:
    top = max([*values, target or 0.0, 1.0])
    # Round the axis up to a readable number (1, 2 or 5 times a power of ten).
    magnitude = 10 ** (len(str(int(top))) - 1)
    for step in (1, 2, 5, 10):
        if top <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[Shown | float | None],
    *,
    target: float | None = None,
    line: bool = False,
) -> Chart:
    """Bars (or a line through the bar tops, `line=True`) for labelled values, with an
    optional target drawn across."""
    numbers = [_number(v) for v in values]
    top = _scale(numbers, target)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(len(labels), 1)
    baseline = float(HEIGHT - BOTTOM)

    def y(value: float) -> float:
        return round(baseline - plot_h * value / top, 1)

    bars = []
    points = []
    for i, (label, raw, number) in enumerate(zip(labels, values, numbers, strict=True)):
        x = LEFT + i * slot
        height = round(baseline - y(number), 1)
        text = "" if raw is None else str(raw)
        bars.append(Bar(round(x + slot * 0.15, 1), y(number), round(slot * 0.7, 1),
                        0.0 if line else height, label, text))
        if raw is not None:  # a month still to come has no point (the line stops)
            points.append(f"{round(x + slot / 2, 1)},{y(number)}")
    ticks = [(y(top * f), _tick(top * f)) for f in (0, 0.25, 0.5, 0.75, 1)]
    return Chart(
        WIDTH,
        HEIGHT,
        bars,
        " ".join(points) if line else "",
        y(target) if target is not None else None,
        f"目標 {_tick(target)}" if target is not None else "",
        ticks,
        baseline,
    )


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
