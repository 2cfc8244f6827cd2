"""A line chart's legend sits on rows of its own under the title, never over it, and wraps
instead of running off the chart (the round page's "Reward model accuracy vs labeler agreement")."""
import re

from core.charts import line_chart


def _texts(svg):
    return [(float(x), float(y), size, text) for x, y, size, text in
            re.findall(r'<text x="([\d.]+)" y="([\d.]+)" font-size="(\d+)"[^>]*>([^<]*)</text>', svg)]


def test_legend_rows_are_under_the_title_and_inside_the_chart():
    svg = line_chart({"RM test accuracy": [(1, 0.6), (2, 0.7)], "labeler agreement": [(1, 0.72), (2, 0.74)],
                      "another long series name": [(1, 0.5), (2, 0.55)]},
                     title="Reward model accuracy vs labeler agreement", x_label="round", y_min=0, y_max=1,
                     reference={"labeler agreement at round one": 0.73})
    texts = _texts(svg)
    (title_y,) = [y for _, y, size, _ in texts if size == "13"]
    names = ["RM test accuracy", "labeler agreement", "another long series name", "labeler agreement at round one (0.73)"]
    legend = [(x, y, text) for x, y, _, text in texts if text in names]
    assert sorted(t for _, _, t in legend) == sorted(names)
    assert all(y >= title_y + 12 for _, y, _ in legend), "legend below the title"
    assert all(x + 6 * len(text) <= 480 for x, _, text in legend), "legend inside the chart"
    assert len({y for _, y, _ in legend}) >= 2, "a long legend wraps"
    frame_top = float(re.search(r'<rect x="48" y="([\d.]+)" width', svg).group(1))
    assert max(y for _, y, _ in legend) < frame_top, "and the plot starts under the legend"
