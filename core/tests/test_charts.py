from core.charts import bar_chart, hbar_chart, histogram, line_chart


def test_line_chart_escapes_labels_and_draws_each_series():
    svg = line_chart({"loss": [(0, 1.0), (1, 0.5), (2, 0.25)], "<b>x</b>": [(0, 0.2), (2, 0.3)]},
                     title="Loss <script>", reference={"agreement": 0.73})
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert "stroke-dasharray" in svg and "agreement (0.73)" in svg
    assert "style=" not in svg


def test_empty_and_degenerate_inputs():
    assert "no data yet" in line_chart({}, title="Nothing")
    assert "<circle" in line_chart({"a": [(1, 2.0)]})
    assert bar_chart([("a", 0.5), ("b", 1.0)], y_max=1).count("<rect") == 3
    assert histogram([1, 1, 2, 3, float("nan")], bins=3).count("<title>") == 4


def test_horizontal_bars_mark_the_threshold_and_missing_values():
    svg = hbar_chart([("ann", 0.9), ("<i>bob</i>", 0.4), ("cy", None)], title="Gold accuracy", value_max=1,
                     threshold=0.6, threshold_label="pause threshold")
    assert svg.count("<rect") == 2 and "no data" in svg and "&lt;i&gt;bob&lt;/i&gt;: 40%" in svg
    assert svg.count('fill="#b3261e"') == 1  # only bob is below the threshold
    assert "<title>pause threshold</title></line>" in svg and "style=" not in svg
    assert "no data yet" in hbar_chart([], title="Tasks done")
