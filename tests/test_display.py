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
