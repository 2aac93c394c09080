"""Tiny server-drawn charts for the overview: geometry only, the template writes the inline SVG.

No script and no style attribute (the CSP is strict): shapes carry SVG presentation attributes and
a class, and static/css/admin.css colours them.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple = ()
    points: str = ""  # a polyline's "x,y x,y …"
    peak: float = 0
    summary: str = ""  # what a screen reader hears


def _scale(values):
    peak = max((float(v) for v in values), default=0.0)
    return peak if peak > 0 else 1.0


def bars(values, *, labels, width=300, height=48, summary=""):
    """Return a Chart of vertical bars, one per value, the tallest filling the height."""
    values = [float(v or 0) for v in values]
    peak = _scale(values)
    slot = width / max(len(values), 1)
    gap = min(2.0, slot * 0.2)
    shapes = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        tall = round(value / peak * (height - 1), 2)
        shapes.append(
            Bar(
                x=round(index * slot, 2),
                y=round(height - tall, 2),
                width=round(max(slot - gap, 0.5), 2),
                height=tall,
                label=label,
            )
        )
    return Chart(width=width, height=height, bars=tuple(shapes), peak=max(values, default=0), summary=summary)


def sparkline(values, *, width=300, height=48, summary=""):
    """Return a Chart with a polyline through the values (left to right, highest at the top)."""
    values = [float(v or 0) for v in values]
    peak = _scale(values)
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{round(i * step, 2)},{round(height - 1 - value / peak * (height - 2), 2)}"
        for i, value in enumerate(values)
    )
    return Chart(width=width, height=height, points=points, peak=max(values, default=0), summary=summary)


def meter(share, *, width=60, height=8):
    """Return a one-bar Chart filled to `share` (0–1) of its width: a success rate in a table cell."""
    share = min(max(float(share or 0), 0.0), 1.0)
    bar = Bar(x=0, y=0, width=round(share * width, 2), height=height, label="")
    return Chart(width=width, height=height, bars=(bar,), peak=share)
