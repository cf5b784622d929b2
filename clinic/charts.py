"""Charts drawn as SVG on the server: the geometry here, the markup in
templates/clinic/charts/. No chart library and no script; each chart names
the table that holds its figures for screen readers."""

import math
from decimal import Decimal

WIDTH = 640
LABEL_WIDTH = 200
BAR_HEIGHT, BAR_GAP = 22, 8
LINE_HEIGHT, MARGIN = 220, 36
# At most this many time labels along the x axis; the table has them all.
X_LABELS = 8


def _number(value):
    return float(value) if isinstance(value, Decimal | int | float) else None


def _scale_top(values, maximum):
    if maximum is not None:
        return maximum
    top = max((v for v in values if v is not None), default=0)
    return top if top > 0 else 1


def _round_top(top):
    """The top of an axis with four gridlines at round values: 1, 2, 4, 8 or 10 times a power of ten."""
    power = 10 ** math.floor(math.log10(top))
    return next(step * power for step in (1, 2, 4, 8, 10) if step * power >= top)


def _shown(value, unit):
    if value is None:
        return "no data"
    return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


def bar_chart(chart_id, title, items, *, maximum=None, unit="", described_by=""):
    """Horizontal bars, one per (label, value); a missing value (None) is shown as 'no data'."""
    values = [_number(value) for _, value in items]
    top = _scale_top(values, maximum)
    plot = WIDTH - LABEL_WIDTH - 60
    bars = []
    for index, ((label, value), number) in enumerate(zip(items, values, strict=True)):
        y = index * (BAR_HEIGHT + BAR_GAP)
        width = 0 if number is None else plot * min(number, top) / top
        bars.append(
            {
                "label": label,
                "y": y,
                "text_y": y + BAR_HEIGHT * 0.7,
                "width": round(width, 1),
                "value_x": round(LABEL_WIDTH + width + 6, 1),
                "value": _shown(value, unit),
            }
        )
    return {
        "kind": "bar",
        "id": chart_id,
        "title": title,
        "described_by": described_by,
        "width": WIDTH,
        "height": max(len(items), 1) * (BAR_HEIGHT + BAR_GAP),
        "label_width": LABEL_WIDTH,
        "label_x": LABEL_WIDTH - 8,
        "bar_height": BAR_HEIGHT,
        "bars": bars,
        "empty": not any(values),
    }


def line_chart(chart_id, title, x_labels, series, *, maximum=None, unit="", described_by=""):
    """Lines over time: series is [(name, css class, values)]; gaps where a value is None."""
    all_values = [_number(v) for _, _, values in series for v in values]
    top = _scale_top(all_values, maximum)
    if maximum is None:
        top = _round_top(top)
    plot_width, plot_height = WIDTH - 2 * MARGIN, LINE_HEIGHT - 2 * MARGIN
    count = len(x_labels)

    def x_of(index):
        return MARGIN + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    def y_of(value):
        return MARGIN + plot_height * (1 - value / top)

    lines = []
    for name, css_class, values in series:
        points = [
            (round(x_of(i), 1), round(y_of(_number(v)), 1), x_labels[i], _shown(v, unit))
            for i, v in enumerate(values)
            if _number(v) is not None
        ]
        lines.append(
            {
                "name": name,
                "css_class": css_class,
                "points": points,
                "polyline": " ".join(f"{x},{y}" for x, y, *_ in points),
            }
        )
    step = max(1, -(-count // X_LABELS))
    return {
        "kind": "line",
        "id": chart_id,
        "title": title,
        "described_by": described_by,
        "width": WIDTH,
        "height": LINE_HEIGHT,
        "lines": lines,
        "grid": [
            {"y": round(y_of(top * share), 1), "label": _shown(round(top * share, 2), unit)}
            for share in (0, 0.25, 0.5, 0.75, 1)
        ],
        "x_ticks": [{"x": round(x_of(i), 1), "label": x_labels[i]} for i in range(0, count, step)],
        "axis_y": LINE_HEIGHT - MARGIN + 16,
        "left": MARGIN,
        "right": WIDTH - MARGIN,
        "empty": not any(v is not None and v > 0 for v in all_values),
    }
