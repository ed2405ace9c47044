"""Runs, comparisons and runs tables: escaped HTML in a notebook, aligned text in a terminal."""

from __future__ import annotations

import math

import pytest

import jupyter_tracker as jt
from jupyter_tracker.render import runs_table_html

HOSTILE = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def two_runs(tracker_db) -> list[str]:
    ids = []
    for note, acc in ((HOSTILE, 0.5), ("line one\nline two", math.nan)):
        with jt.start_run("fit", experiment=HOSTILE, tags={"owner": HOSTILE}) as run:
            jt.log_params({"note": note, "lr": 0.1})
            jt.log_metric(HOSTILE, 1.0)
            jt.log_metric("acc", acc)
        ids.append(run.run_id)
    return ids


def test_every_rich_display_escapes_values_that_hold_html(two_runs):
    frame = jt.runs()
    htmls = {
        "run": jt.get_run(two_runs[0])._repr_html_(),
        "comparison": jt.compare(*two_runs)._repr_html_(),
        "runs()": frame._repr_html_(),
        "panel table": runs_table_html(frame, selected={two_runs[0]}),
    }
    for what, html in htmls.items():
        assert ESCAPED in html, what
        assert "<img" not in html, what


def test_the_runs_table_shows_missing_values_blank_and_marks_the_selection(two_runs):
    html = runs_table_html(jt.runs(), selected={two_runs[1]}, first_row=11)
    rows = html.split("<tr class=")[1:]
    assert "jt-selected" not in rows[0] and ">11</td>" in rows[0]
    assert "jt-selected" in rows[1] and "✓ 12" in rows[1]
    assert "line one line two" in rows[1]  # one line per cell
    assert "nan" not in rows[1].lower()  # the NaN acc is a blank cell


def test_text_renderings_stay_aligned_with_multiline_values(two_runs):
    # Given: a param whose value spans two lines
    text = str(jt.compare(*two_runs))
    params = text.split("params:\n")[1].split("\n\n")[0].splitlines()
    # Then: one line per param, columns aligned under the run ids
    assert len(params) == 3
    header, lr, note = params
    column = header.index(two_runs[1][:8])
    assert lr[column:].startswith("0.1") and note[column:].startswith("line one ⏎ line two")
    run_text = str(jt.get_run(two_runs[1]))
    assert "  note  line one\n        line two" in run_text
    terminal = jt.runs().drop(columns=["start"]).to_string()
    assert len({len(line) for line in terminal.splitlines()}) == 1  # pandas pads every row to one width


# ------------------------------------------------------- non-finite numbers (issue 13)
@pytest.fixture
def non_finite_runs(tracker_db) -> list[str]:
    """A reference run with finite metrics, then one whose metrics are +inf, -inf and NaN."""
    ids = []
    for loss, acc, r2 in ((0.5, 0.9, 0.1), (math.inf, -math.inf, math.nan)):
        with jt.start_run("fit") as run:
            jt.log_metrics({"loss": loss, "acc": acc, "r2": r2})
        ids.append(run.run_id)
    return ids


def test_non_finite_metrics_and_deltas_read_nan_and_infinity_in_every_rendering(non_finite_runs):
    finite, other = non_finite_runs
    run, comparison = jt.get_run(other), jt.compare(finite, other)
    text = str(comparison)
    # Then the values are ∞, −∞ and NaN, and so are the deltas to the finite run
    assert "∞ (+∞)" in text and "−∞ (−∞)" in text and "NaN" in text
    assert "inf" not in text.lower().replace("info", "")
    for rendering in (str(run), run._repr_html_(), comparison._repr_html_()):
        assert "∞" in rendering and "−∞" in rendering and "NaN" in rendering, rendering[:300]
    # And the JSON the sidebar reads names them
    metrics = {row["key"]: row for row in comparison.to_dict()["metrics"]}
    assert metrics["loss"]["deltas"] == [0.0, math.inf] and metrics["acc"]["deltas"] == [0.0, -math.inf]
    from jupyter_tracker.render import json_safe

    assert json_safe(metrics["loss"]["deltas"]) == [0.0, "Infinity"]
    assert json_safe(run.metrics) == {"loss": "Infinity", "acc": "-Infinity", "r2": "NaN"}


def test_the_cell_summary_names_non_finite_values_and_deltas(non_finite_runs):
    from jupyter_tracker.render import CellSummary

    finite, other = (jt.get_run(run_id) for run_id in non_finite_runs)
    text = CellSummary(other, finite).text()
    assert "loss=∞ (+∞)" in text and "acc=−∞ (−∞)" in text and "r2=NaN" in text


def test_the_runs_table_cuts_long_names_and_values_and_keeps_them_on_hover(tracker_db):
    with jt.start_run("n" * 100_000, tags={"note": "<b>" + "t" * 100_000}):
        jt.log_metric("m" * 5000, 1.0)
    html = runs_table_html(jt.runs())
    assert len(html) < 20_000  # 200 KB of values: the table stays small
    assert "nnnnnnnnn…" in html and "title='nnnn" in html and "&lt;b&gt;ttt" in html and "<b>t" not in html
