"""Bar charts as inline SVG, rendered on the server: no JavaScript and no charting library.

Pure functions from (label, value) points to an SVG string; every label is escaped.
"""

from __future__ import annotations

from html import escape

WIDTH = 640
HEIGHT = 180
MARGIN = 28


def bar_chart(points: list[tuple[str, float]], *, title: str, unit: str) -> str:
    """A bar per point, oldest left; each bar's tooltip gives its label and value."""
    if not points:
        return f'<p class="empty">{escape(title)}: nothing recorded yet.</p>'
    top = max(value for _, value in points) or 1
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    step = plot_w / len(points)
    bars = []
    for i, (label, value) in enumerate(points):
        height = plot_h * value / top
        x = MARGIN + i * step
        y = MARGIN + plot_h - height
        tip = escape(f"{label}: {value:,.0f} {unit}")
        bars.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" '
            f'height="{height:.1f}"><title>{tip}</title></rect>'
        )
    first, last = escape(points[0][0]), escape(points[-1][0])
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text x="{MARGIN}" y="16">{escape(title)} (max {top:,.0f} {escape(unit)})</text>'
        f"{''.join(bars)}"
        f'<text x="{MARGIN}" y="{HEIGHT - 8}">{first}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - 8}" text-anchor="end">{last}</text></svg>'
    )
