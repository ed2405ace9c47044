"""The runs table in JupyterLab's main area (issue 14), in a real browser over a real JupyterLab.

A store recorded with the Python API: a 3×3 grid of params (a, b) with 2 repeats each, a constant param,
a metric and a step series per run; a run whose name, param and tag are an HTML payload; and a run whose
code holds a word found only there. The grid draws on a canvas: the tests read the cells in view from the
table's visually hidden text table (role "table", what a screen reader reads), and click the canvas where
that table says a header or row is drawn.

A separate slow test builds 20,000 runs × 100 columns with SQL and prints the time to the first page and
the server time of its request (Server-Timing).
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

import jupyter_tracker
from helpers import record_run
from jupyter_tracker.store import Store
from lab_harness import PANEL, PANEL_TAB, Lab, open_from_palette, open_lab, start_lab
from test_sidebar import browser, screenshot_on_failure  # noqa: F401  (the browser fixtures, shared)

pytestmark = pytest.mark.slow  # a real JupyterLab server and headless Chromium

EVIL = "<img src=x onerror=alert(1)>"
LONG_PARAM = "<b>long</b>_" + "parameter_name_" * 4 + "end"  # 74 characters, markup in it (the markup test)
A = [1, 2, 3]
B = ["x", "y", "z"]
LR = {1: 0.001, 2: 0.01, 3: 0.1}
CODE_WORD = "gradient_wizardry_42"


def acc_of(a: int, b: str, repeat: int) -> float:
    return round(0.5 + 0.1 * a + 0.01 * B.index(b) + 0.003 * repeat, 6)


def loss_of(a: int, repeat: int) -> list[float]:
    return [round(a / (step + 1) + 0.05 * repeat, 6) for step in range(5)]


@pytest.fixture(scope="module")
def table_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    workdir = tmp_path_factory.mktemp("table-lab")
    db = workdir / "tracker.db"
    ids: dict[str, str] = {}
    for a in A:
        for b in B:
            for repeat in range(2):
                with jupyter_tracker.start_run(f"grid_{a}{b}{repeat}", experiment="grid", db=db) as run:
                    jupyter_tracker.log_param("a", a)
                    jupyter_tracker.log_param("b", b)
                    jupyter_tracker.log_param("lr", LR[a])
                    jupyter_tracker.log_param("dataset", "iris")  # the same in every run: a constant column
                    jupyter_tracker.set_tag("repeat", str(repeat))
                    for step, value in enumerate(loss_of(a, repeat)):
                        jupyter_tracker.log_metric("loss", value, step=step)
                    jupyter_tracker.log_metric("acc", acc_of(a, b, repeat))
                ids[f"{a}{b}{repeat}"] = run.run_id
    with jupyter_tracker.start_run(EVIL, experiment="safety", db=db) as run:
        jupyter_tracker.log_param("html", EVIL)
        jupyter_tracker.log_param("n", 1)
        jupyter_tracker.set_tag("note", EVIL)
        jupyter_tracker.log_metric("acc", 0.42)
    ids["xss"] = run.run_id
    store = Store(db)
    ids["coded"] = record_run(store, "coded", "safety", params={"n": 2}, metrics={"acc": 0.5},
                              code=f"{CODE_WORD} = fit(X)\nprint({CODE_WORD})")
    store.close()
    return db, ids


@pytest.fixture(scope="module")
def lab(table_runs: tuple[Path, dict[str, str]]) -> Lab:
    db, _ = table_runs
    yield from start_lab(db.parent, db)


@pytest.fixture(scope="module")
def ids(table_runs: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return table_runs[1]


@pytest.fixture
def page(browser, lab: Lab, screenshot_on_failure: list[Page]) -> Page:  # noqa: F811
    page = open_lab(browser, lab)
    screenshot_on_failure.append(page)
    return page


# ------------------------------------------------------------------------------------------- helpers
def open_experiment(page: Page, name: str) -> Locator:
    """The runs table of one experiment, opened from its group in the sidebar."""
    panel = page.locator(PANEL)
    for attempt in range(3):
        try:  # a reloaded page may restore the sidebar open: a click on its tab would close it
            panel.wait_for(state="visible", timeout=1500 if attempt == 0 else 10_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            # Not shown (yet): the tab opens it; clicked as a slow restore opened it, it closed it: again.
            page.click(PANEL_TAB)
    panel.get_by_role("region", name=f"Experiment {name}").get_by_role("button", name="Open in table").click()
    return table_of(page, name)


def table_of(page: Page, name: str) -> Locator:
    table = page.get_by_role("table", name=f"Runs of {name}")
    expect(table).to_have_attribute("data-loaded-rows", re.compile(r"^[1-9]"), timeout=15_000)
    return table


def view_of(table: Locator) -> Locator:
    """The runs table's whole widget (controls, grid, charts)."""
    return table.locator(
        "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-JupyterTracker-runsTable ')][1]")


def headers(table: Locator) -> list[str]:
    return table.evaluate("t => [...t.tHead.rows[0].cells].map(c => c.dataset.column)")


def cells(table: Locator) -> list[dict[str, str]]:
    """The rows in view, as {column: text}."""
    return table.evaluate(
        "t => { const names = [...t.tHead.rows[0].cells].map(c => c.dataset.column);"
        " return [...t.tBodies[0].rows].map(r => Object.fromEntries([...r.cells].map((c, i) => [names[i], c.textContent])))}")


def total(table: Locator) -> int:
    return int(table.get_attribute("data-total"))


def click_header(page: Page, table: Locator, column: str) -> None:
    """Click the header of ``column`` on the canvas, scrolling the grid sideways until it is in view."""
    th = table.locator(f'th[data-column="{column}"]')
    grid = table.locator("xpath=..").locator(".jp-JupyterTracker-grid")
    box = grid.bounding_box()
    for _ in range(20):
        left, width = float(th.get_attribute("data-left")), float(th.get_attribute("data-width"))
        if left + width < box["width"] - 20:
            break
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(left + width - box["width"] / 2, 0)
        page.wait_for_timeout(150)
    page.mouse.click(box["x"] + left + width / 2, box["y"] + 14)


def click_row(page: Page, table: Locator, index: int, modifiers: list[str] | None = None) -> None:
    row = table.locator("tbody tr").nth(index)
    grid = table.locator("xpath=..").locator(".jp-JupyterTracker-grid")
    box = grid.bounding_box()
    top = float(row.get_attribute("data-top"))
    for key in modifiers or []:
        page.keyboard.down(key)
    page.mouse.click(box["x"] + 250, box["y"] + top + 12)
    for key in modifiers or []:
        page.keyboard.up(key)


def rows_text(table: Locator) -> Locator:
    return table.locator("tbody")


# --------------------------------------------------------------------------------------------- tests
def test_opened_from_the_palette_it_pages_all_runs_and_sorts_by_a_header_click(page: Page, lab: Lab):
    # When the table is opened from the command palette
    open_from_palette(page)
    table = table_of(page, "all experiments")
    # Then it lists every run, with the run's columns first and then params, metrics and tags
    assert total(table) == 20
    columns = headers(table)
    assert columns[:5] == ["status", "name", "experiment", "start", "duration"]
    assert columns.index("params.a") < columns.index("metrics.acc") < columns.index("tags.repeat")
    # When the acc header is clicked
    click_header(page, table, "metrics.acc")
    # Then the best run comes first (the server's order), the header shows the direction
    expect(table.locator('th[data-column="metrics.acc"]')).to_have_text("metrics.acc ▼")
    best = lab.api("table?sort=metrics.acc&order=desc&limit=3&columns=name")["rows"]
    expect(table.locator("tbody tr").first).to_have_attribute("data-run-id", best[0]["run_id"])
    assert table.evaluate("t => [...t.tBodies[0].rows].slice(0, 3).map(r => r.dataset.runId)") == [
        r["run_id"] for r in best]
    # and a second click reverses it
    click_header(page, table, "metrics.acc")
    expect(table.locator('th[data-column="metrics.acc"]')).to_have_text("metrics.acc ▲")
    worst = lab.api("table?sort=metrics.acc&order=asc&limit=1&columns=name")["rows"][0]
    expect(table.locator("tbody tr").first).to_have_attribute("data-run-id", worst["run_id"])
    # and opening it again re-activates the same table
    open_from_palette(page)
    expect(page.get_by_role("table", name="Runs of all experiments")).to_have_count(1)


def test_a_filter_expression_applies_on_enter_and_a_bad_one_shows_the_server_message(page: Page):
    table = open_experiment(page, "grid")
    view = view_of(table)
    assert total(table) == 18
    box = view.get_by_role("textbox", name="Filter expression")
    # When a good expression is entered
    box.fill('metrics.acc > 0.75 and params.b == "z"')
    box.press("Enter")
    # Then only the runs it matches are left: a = 2 or 3 with b = z (acc 0.72+, 0.82+)
    expected = sorted(f"grid_{a}z{r}" for a in A for r in range(2) if acc_of(a, "z", r) > 0.75)
    expect(table).to_have_attribute("data-total", str(len(expected)))
    assert sorted(r["name"] for r in cells(table)) == expected
    # When a bad one is entered
    box.fill("metrics.acc >")
    box.press("Enter")
    # Then the server's message shows under the box, and the rows stay, dimmed and marked as the old filter's
    error = view.get_by_role("alert", name="Table error")
    expect(error).to_contain_text("bad filter at character")
    expect(error).to_contain_text("match the previous filter")
    expect(view.locator(".jp-JupyterTracker-gridView.jp-mod-stale")).to_have_count(1)
    assert total(table) == len(expected)
    # When it is fixed, the rows are fresh again
    box.fill("metrics.acc > 0.8")
    box.press("Enter")
    expect(error).to_have_count(0)
    expect(table).to_have_attribute("data-total", str(sum(acc_of(a, b, r) > 0.8 for a in A for b in B for r in range(2))))
    expect(view.locator(".jp-mod-stale")).to_have_count(0)


def test_the_search_box_finds_a_run_by_its_code(page: Page, ids: dict[str, str]):
    open_from_palette(page)
    table = table_of(page, "all experiments")
    view_of(table).get_by_role("searchbox", name="Search runs").fill(CODE_WORD)
    expect(table).to_have_attribute("data-total", "1")
    expect(table.locator("tbody tr").first).to_have_attribute("data-run-id", ids["coded"])


def test_column_choices_hide_constant_and_persist_when_the_table_is_reopened(page: Page, lab: Lab):
    table = open_experiment(page, "grid")
    view = view_of(table)
    assert "params.dataset" in headers(table) and "experiment" in headers(table)
    view.get_by_role("button", name="Columns").click()
    chooser = view.get_by_role("region", name="Column chooser")
    # When the columns that do not vary are hidden
    chooser.get_by_role("switch", name="Hide columns that do not vary").check()
    # Then the constant param and the experiment (one experiment here) go; the varying ones stay
    expect(table.locator('th[data-column="params.dataset"]')).to_have_count(0)
    expect(table.locator('th[data-column="experiment"]')).to_have_count(0)
    assert "params.a" in headers(table)
    # When params.b is hidden and metrics.acc moved up twice
    chooser.get_by_role("checkbox", name="Show params.b").uncheck()
    expect(table.locator('th[data-column="params.b"]')).to_have_count(0)
    before = headers(table)
    for _ in range(2):
        chooser.get_by_role("button", name="Move metrics.acc up").click()
    expect(table.locator("thead th").nth(before.index("metrics.acc") - 2)).to_have_attribute(
        "data-column", "metrics.acc")
    moved = headers(table)
    # and the table is closed and opened again
    page.locator(".lm-TabBar-tab", has_text="Runs: grid").locator(".lm-TabBar-tabCloseIcon").click()
    expect(page.get_by_role("table", name="Runs of grid")).to_have_count(0)
    table = open_experiment(page, "grid")
    # Then it shows the same columns in the same order
    expect(table.locator('th[data-column="params.b"]')).to_have_count(0)
    assert headers(table) == moved
    # and after a reload of the page too (JupyterLab's state database, saved in the workspace)
    page.wait_for_timeout(1500)  # the state database saves to the workspace after a short delay
    page.goto(lab.url("lab"))
    table = open_experiment(page, "grid")
    assert headers(table) == moved
    # (put the choices back for the other tests)
    view = view_of(table)
    view.get_by_role("button", name="Columns").click()
    chooser = view.get_by_role("region", name="Column chooser")
    chooser.get_by_role("switch", name="Hide columns that do not vary").uncheck()
    chooser.get_by_role("checkbox", name="Show params.b").check()


def test_selected_rows_open_the_comparison(page: Page):
    table = open_experiment(page, "grid")
    view = view_of(table)
    click_row(page, table, 0)
    click_row(page, table, 2, ["Shift"])
    click_row(page, table, 1, ["Control"])  # out of the range again
    expect(table.locator('tbody tr[aria-selected="true"]')).to_have_count(2)
    chosen = table.evaluate("t => [...t.tBodies[0].rows].filter(r => r.ariaSelected === 'true').map(r => r.dataset.runId)")
    view.get_by_role("button", name="Compare 2 runs").click()
    comparison = page.get_by_role("article", name="Comparison of 2 runs")
    expect(comparison).to_be_visible()
    for run_id in chosen:
        expect(comparison).to_contain_text(run_id[:8])


def test_a_selected_run_recorded_by_a_notebook_is_rerun_from_the_table(page: Page, lab: Lab):
    # Given a run recorded by a real notebook execution into the table's store
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext jupyter_tracker"),
        nbformat.v4.new_code_cell("%%track replayable --experiment replay\nimport numpy as np\n"
                                  "rng = np.random.default_rng(3)\nscore = float(rng.random())"),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / "replay.ipynb")
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output",
                    "replay-executed.ipynb", "replay.ipynb"], cwd=lab.root, check=True, capture_output=True,
                   timeout=300, env={**os.environ, "JUPYTER_TRACKER_DB": str(lab.db)})
    # When it is selected in its experiment's table and rerun
    table = open_experiment(page, "replay")
    expect(table).to_have_attribute("data-total", "1")
    click_row(page, table, 0)
    view = view_of(table)
    view.get_by_role("button", name="Rerun", exact=True).click()
    # Then the table shows the rerun's progress, then its verdict
    verdict = view.get_by_role("status", name="Rerun verdict")
    expect(view.get_by_role("status", name="Rerun progress").or_(verdict)).to_be_visible()
    expect(verdict).to_contain_text("REPRODUCED", timeout=180_000)


def test_grouping_by_two_params_shows_each_groups_statistics(page: Page):
    table = open_experiment(page, "grid")
    view = view_of(table)
    view.get_by_role("button", name="Group by").click()
    picker = view.get_by_role("region", name="Group by params")
    picker.get_by_role("checkbox", name="Group by params.a").check()
    picker.get_by_role("checkbox", name="Group by params.b").check()
    expect(table).to_have_attribute("data-total", "9")
    expect(view.get_by_role("status", name="Rows")).to_have_text("9 groups")
    expect(table).to_have_attribute("data-loaded-rows", "9")
    page.keyboard.press("Escape")  # the picker closes
    expect(picker).to_have_count(0)
    shown = {(r["by:params.a"], r["by:params.b"]): r for r in cells(table)}
    assert len(shown) == 9
    for a in A:
        for b in B:
            values = [acc_of(a, b, r) for r in range(2)]
            row = shown[(str(a), b)]
            assert row["runs"] == "2"
            assert math.isclose(float(row["stat:mean:acc"]), statistics.mean(values), rel_tol=1e-5)
            assert math.isclose(float(row["stat:std:acc"]), statistics.stdev(values), rel_tol=1e-4)
            assert math.isclose(float(row["stat:min:acc"]), min(values), rel_tol=1e-5)
            assert math.isclose(float(row["stat:max:acc"]), max(values), rel_tol=1e-5)
            assert row["stat:count:acc"] == "2"
    # When a group is clicked, its runs show below the grid
    index = next(i for i, r in enumerate(cells(table)) if (r["by:params.a"], r["by:params.b"]) == ("2", "y"))
    click_row(page, table, index)
    sub = page.get_by_role("table", name="Runs of the group")
    expect(sub).to_have_attribute("data-total", "2")
    expect(sub).to_have_attribute("data-loaded-rows", "2")
    assert sorted(r["name"] for r in cells(sub)) == ["grid_2y0", "grid_2y1"]


def test_charts_parallel_coordinates_brush_filters_the_table_and_scatter_hover(page: Page, ids: dict[str, str]):
    table = open_experiment(page, "grid")
    view = view_of(table)
    view.get_by_role("button", name="Charts").click()
    charts = view.get_by_role("region", name="Table charts")
    expect(charts.get_by_role("status", name="Charted runs")).to_have_text("18 runs")
    # Parallel coordinates: an axis per varying param and the metric, a line per run
    parallel = charts.get_by_role("figure", name="Parallel coordinates")
    axes = parallel.locator("g[data-axis]")
    expect(axes).to_have_count(4)  # a, b, lr and acc (dataset does not vary)
    assert axes.evaluate_all("gs => gs.map(g => g.dataset.axis)") == ["params.a", "params.b", "params.lr", "metrics.acc"]
    assert parallel.locator('g[data-axis="params.b"]').get_attribute("data-kind") == "category"
    expect(parallel.locator('g[data-axis="params.b"] text.jp-JupyterTracker-tick')).to_have_text(["x", "y", "z"])
    expect(parallel.locator("polyline.jp-JupyterTracker-pcLine")).to_have_count(18)
    # an integer axis has integer ticks only, and an axis of a few values is ticked at its values
    expect(parallel.locator('g[data-axis="params.a"] text.jp-JupyterTracker-tick')).to_have_text(["1", "2", "3"])
    assert parallel.locator('g[data-axis="params.a"]').get_attribute("data-integer") == "true"
    expect(parallel.locator('g[data-axis="params.lr"] text.jp-JupyterTracker-tick')).to_have_text(["0.001", "0.01", "0.1"])
    assert all(re.fullmatch(r"[\d.]+", t) for t in tick_labels(parallel, "metrics.acc"))
    acc_ticks = tick_labels(parallel, "metrics.acc")
    assert 3 <= len(acc_ticks) <= 8
    # tick labels have a halo of the chart's background, and end left of where a brush is drawn
    tick = parallel.locator('g[data-axis="metrics.acc"] text.jp-JupyterTracker-tick').first
    assert tick.evaluate("t => getComputedStyle(t).paintOrder").startswith("stroke")
    axis_x = float(parallel.locator('g[data-axis="metrics.acc"] > line').first.get_attribute("x1"))
    assert max(text_right(t) for t in parallel.locator('g[data-axis="metrics.acc"] text.jp-JupyterTracker-tick').all()) < axis_x - 7
    # the lines are coloured by acc (dark low, light high), with a legend of the scale
    strokes = parallel.locator("polyline.jp-JupyterTracker-pcLine").evaluate_all("ls => ls.map(l => l.style.stroke)")
    assert len(set(strokes)) >= 6
    expect(parallel.get_by_label("Line colours")).to_contain_text("acc")
    # When the acc axis is brushed over its upper part
    target = parallel.locator('rect[data-brush-axis="metrics.acc"]').bounding_box()
    x = target["x"] + target["width"] / 2
    page.mouse.move(x, target["y"] + 1)
    page.mouse.down()
    page.mouse.move(x, target["y"] + target["height"] * 0.4, steps=5)
    page.mouse.up()
    # Then the table keeps the runs in that range: fewer, and all of them high
    chip = view.get_by_role("button", name="Remove brush metrics.acc")
    expect(chip).to_be_visible()
    expect(table).not_to_have_attribute("data-total", "18")
    brushed = total(table)
    assert 0 < brushed < 18
    expect(parallel.locator("polyline.jp-JupyterTracker-pcLine")).to_have_count(brushed)
    assert all(float(r["metrics.acc"]) > 0.7 for r in cells(table))
    # and the brushed range stays drawn on its axis, where it was dragged (the axis keeps its scale)
    band = parallel.locator('rect[data-brushed="metrics.acc"]')
    expect(band).to_have_count(1)
    target = parallel.locator('rect[data-brush-axis="metrics.acc"]').bounding_box()
    box = band.bounding_box()
    assert box["y"] < target["y"] + 0.1 * target["height"] and box["y"] + box["height"] < target["y"] + 0.5 * target["height"]
    expect(parallel.locator('g[data-axis="metrics.acc"] text.jp-JupyterTracker-tick')).to_have_text(acc_ticks)
    chip.click()
    expect(table).to_have_attribute("data-total", "18")
    expect(band).to_have_count(0)
    # A drag from the top of the integer axis a takes the values it covers (3), not 2.6 - 2.99; the axis
    # stays though a is now the same in every run, and the chart's own control clears the brush
    target = parallel.locator('rect[data-brush-axis="params.a"]').bounding_box()
    x = target["x"] + target["width"] / 2
    page.mouse.move(x, target["y"] + 1)
    page.mouse.down()
    page.mouse.move(x, target["y"] + target["height"] * 0.2, steps=5)
    page.mouse.up()
    expect(view.get_by_role("button", name="Remove brush params.a")).to_have_text(re.compile(r"params\.a 3 – 3"))
    expect(table).to_have_attribute("data-total", "6")
    expect(parallel.locator('rect[data-brushed="params.a"]')).to_have_count(1)
    expect(parallel.locator('g[data-axis="params.a"] text.jp-JupyterTracker-tick')).to_have_text(["1", "2", "3"])
    parallel.get_by_role("button", name="Clear the brush on params.a").click()
    expect(table).to_have_attribute("data-total", "18")
    expect(parallel.locator("rect.jp-JupyterTracker-brushBand")).to_have_count(0)
    # Scatter: a point per run; hovering one names the run
    scatter = charts.get_by_role("figure", name="Scatter")
    points = scatter.locator("circle.jp-JupyterTracker-point")
    expect(points).to_have_count(18)
    # its axes have titles, its scales are padded (no point on an axis line), its legend names the param
    expect(scatter.locator('text[data-axis-title="x"]')).to_have_text("params.a")
    expect(scatter.locator('text[data-axis-title="y"]')).to_have_text("metrics.acc")
    axes_lines = scatter.locator("svg > line.jp-JupyterTracker-axis").evaluate_all(
        "ls => ls.map(l => [+l.getAttribute('x1'), +l.getAttribute('y1'), +l.getAttribute('y2')])")
    left_x, bottom_y = axes_lines[0][0], axes_lines[0][2]
    centres = points.evaluate_all("cs => cs.map(c => [+c.getAttribute('cx'), +c.getAttribute('cy')])")
    assert all(cx > left_x + 5 and cy < bottom_y - 5 for cx, cy in centres)
    expect(scatter.locator('g[data-tick="x"] text')).to_have_text(["1", "2", "3"])  # a is an integer: no 1.5, 2.5
    expect(scatter.locator("[data-legend-title]")).to_have_text("params.b")
    expect(scatter.get_by_role("list", name="Colours").locator("li")).to_have_text(["x", "y", "z"])
    top = points.last  # drawn last: on top of any point it overlaps
    run_id = top.get_attribute("data-run-id")
    name = next(k for k, v in ids.items() if v == run_id)
    expect(top.locator("title")).to_contain_text(f"{run_id[:8]} grid_{name}")
    top.hover()


def tick_labels(chart: Locator, axis: str) -> list[str]:
    """The tick labels drawn on a parallel coordinates axis, bottom to top."""
    return chart.locator(f'g[data-axis="{axis}"] text.jp-JupyterTracker-tick').all_text_contents()


def text_right(text: Locator) -> float:
    """The right end of an SVG text, in its SVG's coordinates (its bounding box, halo aside)."""
    return text.evaluate("t => { const b = t.getBBox(); return b.x + b.width; }")


def band_colours(steps: Locator) -> dict[str, str]:
    """Each group's band colour in the step series chart, by the group's label."""
    return dict(steps.locator("g.jp-JupyterTracker-band").evaluate_all(
        "gs => gs.map(g => [g.dataset.group, g.querySelector('polygon').getAttribute('fill')])"))


def test_step_series_of_groups_draw_a_mean_line_and_a_band(page: Page):
    table = open_experiment(page, "grid")
    view = view_of(table)
    view.get_by_role("button", name="Group by").click()
    view.get_by_role("region", name="Group by params").get_by_role("checkbox", name="Group by params.a").check()
    expect(table).to_have_attribute("data-total", "3")
    page.keyboard.press("Escape")
    view.get_by_role("button", name="Charts").click()
    steps = view.get_by_role("figure", name="Step series")
    steps.get_by_role("combobox", name="Step metric").select_option("metrics.loss")
    bands = steps.locator("g.jp-JupyterTracker-band")
    expect(bands).to_have_count(3)
    for band in bands.all():
        expect(band.locator("polygon")).to_have_count(1)
        expect(band.locator("polyline")).to_have_attribute("points", re.compile(r"^(\S+ ){4}\S+$"))  # 5 steps
    # the band of a = 1 spans its two repeats at step 0: loss 1.0 to 1.05 (mean 1.025)
    expect(bands.first.locator("polyline title")).to_contain_text("mean of 6 runs")
    # The axes have titles, and the x ticks cover the steps from the first (0) to the last (4)
    expect(steps.locator('text[data-axis-title="x"]')).to_have_text("step")
    expect(steps.locator('text[data-axis-title="y"]')).to_have_text("loss")
    expect(steps.locator('g[data-tick="x"] text')).to_have_text(["0", "1", "2", "3", "4"])
    expect(steps.get_by_role("note", name="Groups left out")).to_have_count(0)
    # A group's colour is its key's: the same when the groups are sorted another way
    colours = band_colours(steps)
    assert sorted(colours) == ["a=1", "a=2", "a=3"] and len(set(colours.values())) == 3
    order = [r["by:params.a"] for r in cells(table)]
    for _ in range(2):
        click_header(page, table, "stat:mean:acc")
        expect(table.locator('th[data-column="stat:mean:acc"]')).to_have_text(re.compile("[▼▲]$"))
        expect(table).to_have_attribute("data-loaded-rows", "3")
        if [r["by:params.a"] for r in cells(table)] != order:
            break
    assert [r["by:params.a"] for r in cells(table)] != order
    expect(bands).to_have_count(3)
    expect(bands.first).not_to_have_attribute("data-group", f"a={order[0]}")  # redrawn in the new order
    assert band_colours(steps) == colours
    # More groups than are drawn: the chart says so
    view.get_by_role("button", name="Group by").click()
    view.get_by_role("region", name="Group by params").get_by_role("checkbox", name="Group by params.b").check()
    expect(table).to_have_attribute("data-total", "9")
    page.keyboard.press("Escape")
    expect(steps.get_by_role("note", name="Groups left out")).to_have_text("9 groups: the first 8 in the table's order drawn")
    expect(bands).to_have_count(8)


def test_a_run_recorded_while_the_table_is_open_appears_by_itself(page: Page, lab: Lab):
    table = open_experiment(page, "grid")
    count = total(table)
    started = time.monotonic()
    with jupyter_tracker.start_run("live_new", experiment="grid", db=lab.db):
        jupyter_tracker.log_param("a", 9)
        jupyter_tracker.log_metric("acc", 0.99)
    expect(table).to_have_attribute("data-total", str(count + 1), timeout=10_000)
    expect(table.locator("tbody tr").first).to_contain_text("live_new")  # the newest first
    print(f"\n  runs table: a new run showed {time.monotonic() - started:.1f} s after it was recorded")


def text_left(text: Locator) -> float:
    """The left end of an SVG text, in its SVG's coordinates."""
    return text.evaluate("t => t.getBBox().x")


def test_markup_in_a_name_param_or_tag_stays_text_in_grid_search_and_hover(page: Page, lab: Lab, ids: dict[str, str]):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    table = open_experiment(page, "safety")
    view = view_of(table)
    view.get_by_role("searchbox", name="Search runs").fill("onerror")
    expect(table).to_have_attribute("data-total", "1")
    row = cells(table)[0]
    assert row["name"] == EVIL and row["params.html"] == EVIL and row["tags.note"] == EVIL
    view.get_by_role("button", name="Charts").click()
    scatter = view.get_by_role("figure", name="Scatter")
    point = scatter.locator("circle.jp-JupyterTracker-point")
    expect(point).to_have_count(1)
    expect(point.locator("title")).to_contain_text(f"{ids['xss'][:8]} {EVIL}")
    point.hover()
    # the parallel coordinates draw the payload as a tick label, cut, whole in its <title>
    html_axis = view.get_by_role("figure", name="Parallel coordinates").locator('g[data-axis="params.html"]')
    expect(html_axis.locator("text.jp-JupyterTracker-tick")).to_have_text(re.compile(r"^<img src=x.*…$"))
    expect(html_axis.locator("g:has(> text.jp-JupyterTracker-tick) > title")).to_have_text(EVIL)
    html_axis.locator("text.jp-JupyterTracker-tick").hover()
    # A param name of 70 characters holding markup, with markup values: cut with an ellipsis on the
    # charts, whole in the <title> (recorded here, in an experiment of its own)
    for depth in (1, 2, 3):
        with jupyter_tracker.start_run(f"long_{depth}", experiment="long-names", db=lab.db):
            jupyter_tracker.log_param(LONG_PARAM, [EVIL, "short", "x" * 70][depth - 1])
            jupyter_tracker.log_param("depth", depth)
            jupyter_tracker.log_metric("acc", 0.5 + 0.1 * depth)
    view = view_of(open_experiment(page, "long-names"))
    view.get_by_role("button", name="Charts").click()
    charts = view.get_by_role("region", name="Table charts")
    expect(charts.get_by_role("status", name="Charted runs")).to_have_text("3 runs")
    axis = charts.get_by_role("figure", name="Parallel coordinates").locator(f'g[data-axis="params.{LONG_PARAM}"]')
    name = axis.locator("text.jp-JupyterTracker-axisName")
    expect(name).to_have_text(re.compile(r"^<b>long.{5,20}…$"))
    expect(axis.locator("g:has(> text.jp-JupyterTracker-axisName) > title")).to_have_text(f"params.{LONG_PARAM}")
    labels = axis.locator("text.jp-JupyterTracker-tick").all_text_contents()
    assert len(labels) == 3 and all(len(t) <= 14 for t in labels) and sum(t.endswith("…") for t in labels) == 2
    assert text_left(axis.locator("text.jp-JupyterTracker-tick").first) >= 0  # not cut by the chart's edge
    scatter = charts.get_by_role("figure", name="Scatter")
    scatter.get_by_role("combobox", name="Scatter y").select_option(f"params.{LONG_PARAM}")
    scatter.get_by_role("combobox", name="Colour by").select_option(f"params.{LONG_PARAM}")
    y_title = scatter.locator('text[data-axis-title="y"]')
    expect(y_title).to_have_text(re.compile(r"^params\.<b>long.*…$"))
    expect(scatter.locator('g:has(> text[data-axis-title="y"]) > title')).to_have_text(f"params.{LONG_PARAM}")
    legend_title = scatter.locator("[data-legend-title]")
    expect(legend_title).to_have_attribute("title", f"params.{LONG_PARAM}")
    expect(legend_title).to_have_text(re.compile(r"…$"))
    expect(scatter.locator("circle.jp-JupyterTracker-point")).to_have_count(3)
    y_title.hover()
    page.wait_for_timeout(500)
    assert page.locator('img[src="x"]').count() == 0 and page.locator("b").filter(has_text="long").count() == 0
    assert dialogs == []


def test_the_table_and_groups_answers_are_the_json_of_their_records(tmp_path: Path):
    """The table and groups routes write their pages without ``asdict``'s deep copy (server/handlers.py
    encode_page): the same JSON as ``json_safe(page.to_dict())``, NaN and infinities as text included."""
    from jupyter_tracker import api
    from jupyter_tracker.render import json_safe
    from jupyter_tracker.server.handlers import encode_page

    db = tmp_path / "tracker.db"
    for index, loss in enumerate([0.5, float("nan"), float("inf"), -float("inf")]):
        with jupyter_tracker.start_run(f"{EVIL}{index}", experiment="nan", db=db):
            jupyter_tracker.log_param("a", index % 2)
            jupyter_tracker.log_param("listed", [index, "x", {"k": EVIL}])
            jupyter_tracker.log_metric("loss", loss)
            jupyter_tracker.set_tag("t", "é ü 漢字")
    pages = [api.runs_table(db=db), api.runs_table(db=db, columns=["name", "metrics.loss"], limit=2, offset=1),
             api.runs_table(db=db, filter="metrics.loss < 1"), api.groups_page(["params.a"], db=db)]
    for page in pages:
        assert encode_page(page) == json.dumps(json_safe(page.to_dict()), ensure_ascii=False, allow_nan=False)
    assert '"NaN"' in encode_page(pages[0]) and '"-Infinity"' in encode_page(pages[0])


# ---------------------------------------------------------------------------------------- scale
def build_large_store(path: Path, runs: int = 20_000, params: int = 40, metrics: int = 50, tags: int = 10) -> None:
    """``runs`` runs × (params + metrics + tags) columns, written with SQL in one transaction (the store's own
    writes would take minutes). The store is created by Store, so the schema is the real one."""
    Store(path).close()
    conn = sqlite3.connect(path)
    start = 1_767_225_600.0
    with conn:
        conn.executemany(
            "INSERT INTO runs (run_id, experiment, name, status, source, start_time, end_time, duration)"
            " VALUES (?, ?, ?, 'finished', 'script', ?, ?, 1.0)",
            [(f"{i:032x}", f"exp{i % 4}", f"train{i % 7}", start + i, start + i + 1) for i in range(runs)])
        conn.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)",
                         ((f"{i:032x}", f"p{k:02d}", json.dumps((i * (k + 3)) % 17 if k % 2 else f"v{i % (k + 2)}"))
                          for i in range(runs) for k in range(params)))
        conn.executemany("INSERT INTO latest_metrics (run_id, key, value, step, points) VALUES (?, ?, ?, NULL, 1)",
                         ((f"{i:032x}", f"m{k:02d}", ((i * 7919 + k * 104729) % 10_000) / 10_000)
                          for i in range(runs) for k in range(metrics)))
        conn.executemany("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)",
                         ((f"{i:032x}", f"t{k}", f"b{i // 100 + k}") for i in range(runs) for k in range(tags)))
    conn.close()


@pytest.fixture(scope="module")
def large_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    workdir = tmp_path_factory.mktemp("large-table-lab")
    db = workdir / "tracker.db"
    build_large_store(db)
    yield from start_lab(workdir, db)


def test_first_page_of_20000_runs_by_100_columns(browser, large_lab: Lab, screenshot_on_failure,  # noqa: F811
                                                   capsys: pytest.CaptureFixture):
    page = open_lab(browser, large_lab)
    screenshot_on_failure.append(page)
    # When the table of all 20,000 runs is opened
    started: list[float] = []
    open_from_palette(page, before_enter=lambda: started.append(time.monotonic()))
    started = started[0]
    table = table_of(page, "all experiments")
    first_paint = time.monotonic() - started
    in_page = int(table.get_attribute("data-first-rows-ms"))  # from the table's creation to its first rows
    assert total(table) == 20_000
    server = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/jupyter-tracker/api/table'))"
        ".map(e => [(e.serverTiming.find(t => t.name === 'api') || {}).duration, Math.round(e.duration)])")
    # When it is scrolled to the middle, the page there arrives (and only it is asked for)
    grid = table.locator("xpath=..").locator(".jp-JupyterTracker-grid")
    box = grid.bounding_box()
    asked = len(server)
    started = time.monotonic()
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    for _ in range(10):  # a fling: ten quick wheel turns, 10,000 rows down
        page.mouse.wheel(0, 24_000)
    expect(table).not_to_have_attribute("data-first-row", "0")
    expect(table).to_have_attribute("data-loaded-rows", re.compile(r"^[1-9]"), timeout=10_000)
    expect(table.locator("tbody td").first).not_to_have_text("…", timeout=10_000)
    scrolled = time.monotonic() - started
    requests = page.evaluate(
        "() => performance.getEntriesByType('resource').filter(e => e.name.includes('/jupyter-tracker/api/table')).length")
    paint = table.get_attribute("data-paint-ms")  # the grid's slowest of its last 50 paints
    with capsys.disabled():
        print(f"\n  runs table, 20,000 runs × 100 columns: first rows {in_page} ms after the table was created "
              f"({first_paint * 1000:.0f} ms from the palette's Enter, as the test sees it) "
              f"(table requests [server ms, total ms]: {server}); a page scrolled to {scrolled * 1000:.0f} ms, "
              f"{requests - asked} request(s) for it; slowest recent paint of the grid {paint} ms")
