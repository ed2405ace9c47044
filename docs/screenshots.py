"""Take the README's screenshots of the JupyterLab sidebar and runs table from the real UI: `make screenshots`.

The sidebar: executes notebooks/quickstart.ipynb twice with papermill (4 real runs, with data
fingerprints, seeds and a loss series) into a temporary store, starts JupyterLab on it, and lets
headless Chromium save docs/sidebar.png (the sidebar and a run's detail) and docs/compare.png (a
comparison).

The runs table: records a grid of scikit-learn gradient-boosting runs (learning_rate x max_depth, each
repeated with 3 seeds; the test accuracy and a test log-loss per boosting stage) with start_run into a
second temporary store, starts JupyterLab on it, and saves, each cropped to its widget:
docs/table.png (a filter, constant columns hidden, sorted by accuracy), docs/table-groups.png (grouped
by the two params), docs/chart-parallel.png (parallel coordinates, a brush dragged on the accuracy axis),
docs/chart-scatter.png (loss against accuracy, coloured by learning_rate) and docs/chart-series.png
(the loss by step per learning_rate: mean lines and min-max bands).

Every temporary folder, JupyterLab server (with its kernels) and browser it starts is gone when it ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
sys.path.insert(0, str(REPO / "tests"))

from lab_harness import PANEL_TAB, Lab, launch_chromium, open_lab, open_panel, start_lab  # noqa: E402

# The runs table's grid: 3 x 3 params, each with 3 seeds (27 runs), on scikit-learn's breast cancer set.
LEARNING_RATES = [0.05, 0.1, 0.2]
MAX_DEPTHS = [1, 2, 3]
SEEDS = [0, 1, 2]
STAGES = 50
EXPERIMENT = "boosting"
THRESHOLD = 0.96
FILTER = f"metrics.accuracy > {THRESHOLD}"
SCALE = 2  # device pixels per CSS pixel: the charts are drawn 440-530 CSS px wide
CHART_MARGIN = (6, 4)  # within the charts panel's padding and the figures' margins: nothing of their neighbours
LIGHT_THEME = '{"theme": "JupyterLab Light", "adaptive-theme": false}'


# ---------------------------------------------------------------------------------- the sidebar
def record_quickstart_runs(workdir: Path, db: Path) -> None:
    env = {**os.environ, "JUPYTER_TRACKER_DB": str(db)}
    for number, parameters in enumerate(([], ["-p", "n_estimators", "120"])):
        subprocess.run(
            [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "quickstart.ipynb"),
             str(workdir / f"quickstart-{number}.ipynb"), "--cwd", str(REPO / "notebooks"), "--kernel", "python3",
             *parameters],
            check=True, env=env, capture_output=True,
        )


def sidebar_pictures(workdir: Path) -> list[str]:
    workdir.mkdir(parents=True)
    db = workdir / "tracker.db"
    record_quickstart_runs(workdir, db)
    lab_runs = start_lab(workdir, db)
    lab = next(lab_runs)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = open_lab(browser, lab)
                panel = open_panel(page)
                rows = panel.get_by_role("button", name=re.compile(r"^Open run train "))
                expect(rows).to_have_count(4)
                panel.get_by_role("combobox", name="Sort by").select_option("metrics.acc")
                order = lab.api("runs?experiment=quickstart&sort=metrics.acc&order=desc&limit=4")["runs"]
                for index, run in enumerate(order):  # the list in its new order
                    expect(rows.nth(index)).to_contain_text(run["run_id"][:8])
                rows.first.click()
                expect(page.get_by_role("region", name="Metrics").locator("polyline")).to_have_count(1)
                settle(page)
                page.screenshot(path=str(DOCS / "sidebar.png"))
                print("  docs/sidebar.png")
                checkboxes = panel.get_by_role("checkbox", name=re.compile(r"^Select train "))
                checkboxes.nth(0).check()
                checkboxes.nth(3).check()
                panel.get_by_role("button", name="Compare 2 runs").click()
                view = page.get_by_role("article", name="Comparison of 2 runs")
                expect(view.get_by_role("figure", name="Chart of loss by step").locator("polyline")).to_have_count(2)
                settle(page)
                page.screenshot(path=str(DOCS / "compare.png"))
                print("  docs/compare.png")
            finally:
                browser.close()
    finally:
        lab_runs.close()
    return ["sidebar.png", "compare.png"]


# -------------------------------------------------------------------------------- the runs table
def record_grid_runs(db: Path) -> dict[tuple[float, int, int], float]:
    """The grid's 27 runs, recorded with start_run; their test accuracy by (learning_rate, max_depth, seed)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split

    import jupyter_tracker as jt

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    accuracy: dict[tuple[float, int, int], float] = {}
    for learning_rate in LEARNING_RATES:
        for max_depth in MAX_DEPTHS:
            for seed in SEEDS:
                with jt.start_run("boost", experiment=EXPERIMENT, db=db):
                    jt.log_params({"learning_rate": learning_rate, "max_depth": max_depth, "seed": seed,
                                   "n_estimators": STAGES, "subsample": 0.7, "dataset": "breast_cancer"})
                    clf = GradientBoostingClassifier(n_estimators=STAGES, learning_rate=learning_rate,
                                                     max_depth=max_depth, subsample=0.7, max_features=0.5,
                                                     random_state=seed).fit(X_train, y_train)
                    # The test log-loss of the first `step` stages: a step series per run.
                    for step, proba in enumerate(clf.staged_predict_proba(X_test), start=1):
                        jt.log_metric("loss", log_loss(y_test, proba), step=step)
                    accuracy[learning_rate, max_depth, seed] = accuracy_score(y_test, clf.predict(X_test))
                    jt.log_metric("accuracy", accuracy[learning_rate, max_depth, seed])
    return accuracy


def open_page(browser, lab: Lab) -> Page:
    """JupyterLab at SCALE device pixels per CSS pixel, light, once its side bar is there."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=SCALE,
                                  color_scheme="light")
    page = context.new_page()
    page.goto(lab.url("lab?reset"))
    page.wait_for_selector(PANEL_TAB, timeout=90_000)
    # The default layout opens the file browser: close the left side bar, the table gets the page's width.
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    expect(current).to_have_count(1)
    current.click()
    expect(page.locator("#jp-left-stack")).to_be_hidden()
    return page


def settle(page: Page) -> None:
    """The fonts loaded and two frames painted (the grid paints on an animation frame)."""
    page.evaluate("() => document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))))")


def click_header(page: Page, table: Locator, column: str) -> None:
    """Click a column's header on the grid's canvas, where the table's text mirror says it is drawn."""
    th = table.locator(f'th[data-column="{column}"]')
    box = table.locator("xpath=..").locator(".jp-JupyterTracker-grid").bounding_box()
    left, width = float(th.get_attribute("data-left")), float(th.get_attribute("data-width"))
    page.mouse.click(box["x"] + left + width / 2, box["y"] + 14)
    page.mouse.move(0, 0)  # no hover highlight left on the grid


def fit_columns(page: Page, table: Locator) -> None:
    """Double-click the right edge of each header whose column is not as wide as its text (the grid's default
    width, 120 px, cuts "params.learning_rate" and the sort arrow): the grid fits the column to its header and
    cells. Right to left, so that the edges to click stay where the text table says they are."""
    grid = table.locator("xpath=..").locator(".jp-JupyterTracker-grid")
    box = grid.bounding_box()
    columns = table.evaluate("""t => {
        const style = getComputedStyle(document.body);
        const font = `${style.getPropertyValue('--jp-ui-font-size1').trim() || '13px'} ${
            style.getPropertyValue('--jp-ui-font-family').trim() || 'sans-serif'}`;
        const gc = document.createElement('canvas').getContext('2d');
        const width = (text, bold) => { gc.font = (bold ? 'bold ' : '') + font; return gc.measureText(text).width + 16; };
        return [...t.tHead.rows[0].cells].map((th, i) => ({
            column: th.dataset.column, left: +th.dataset.left, width: +th.dataset.width,
            fit: Math.max(width(th.textContent, true), ...[...t.tBodies[0].rows].map(r => width(r.cells[i].textContent, false)))
        }));
    }""")
    for column in reversed(columns):
        if abs(column["fit"] - column["width"]) <= 2:
            continue
        page.mouse.dblclick(box["x"] + column["left"] + column["width"] - 3, box["y"] + 14)
        expect(table.locator(f'th[data-column="{column["column"]}"]')).not_to_have_attribute(
            "data-width", str(column["width"]).removesuffix(".0"))
    page.mouse.move(0, 0)


def fit_grid(page: Page, table: Locator, rows: int, min_width: int = 900) -> None:
    """Resize the page so that the grid just holds its columns and ``rows`` rows (no void below or beside them)."""
    grid = table.locator("xpath=..").locator(".jp-JupyterTracker-grid")
    last = table.locator("thead th").last
    content_width = float(last.get_attribute("data-left")) + float(last.get_attribute("data-width"))
    want_width, want_height = content_width + 16, 28 + 24 * rows + 8
    viewport = page.viewport_size
    for _ in range(3):  # the main area follows the viewport one for one; a second pass absorbs rounding
        box = grid.bounding_box()
        if abs(box["width"] - want_width) <= 1 and abs(box["height"] - want_height) <= 1:
            break
        viewport = {"width": max(min_width, round(viewport["width"] + want_width - box["width"])),
                    "height": round(viewport["height"] + want_height - box["height"])}
        page.set_viewport_size(viewport)
        page.wait_for_function(
            "([el, w, h]) => Math.abs(el.getBoundingClientRect().height - h) <= 1"
            " && (Math.abs(el.getBoundingClientRect().width - w) <= 1 || w < el.getBoundingClientRect().width)",
            arg=[grid.element_handle(), want_width, want_height])
    expect(table).to_have_attribute("data-loaded-rows", str(rows))
    settle(page)


def shoot(page: Page, locator: Locator, name: str, margin: tuple[int, int] = (0, 0), css_pixels: bool = False) -> None:
    """Save the part of the page ``locator`` covers, with a margin (CSS px beside it, above and below it)."""
    locator.scroll_into_view_if_needed()
    settle(page)
    box = locator.bounding_box()
    clip = {"x": box["x"] - margin[0], "y": box["y"] - margin[1],
            "width": box["width"] + 2 * margin[0], "height": box["height"] + 2 * margin[1]}
    page.screenshot(path=str(DOCS / name), clip=clip, scale="css" if css_pixels else "device", animations="disabled")
    print(f"  docs/{name}")


def table_pictures(workdir: Path) -> list[str]:
    workdir.mkdir(parents=True)
    db = workdir / "tracker.db"
    accuracy = record_grid_runs(db)
    theme = workdir / "settings" / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    theme.parent.mkdir(parents=True, exist_ok=True)
    theme.write_text(LIGHT_THEME)
    lab_runs = start_lab(workdir, db)
    lab = next(lab_runs)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = open_page(browser, lab)
                take_table_pictures(page, accuracy)
            finally:
                browser.close()
    finally:
        lab_runs.close()
    return ["table.png", "table-groups.png", "chart-parallel.png", "chart-scatter.png", "chart-series.png"]


def take_table_pictures(page: Page, accuracy: dict[tuple[float, int, int], float]) -> None:
    runs = len(accuracy)
    # The table of all experiments (the side bar closed: the main area is the page's width).
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    palette.fill("Experiment Tracker: Open runs table")
    expect(page.locator(".lm-CommandPalette-item.lm-mod-active")).to_contain_text("Experiment Tracker: Open runs table")
    palette.press("Enter")
    table = page.get_by_role("table", name="Runs of all experiments")
    expect(table).to_have_attribute("data-total", str(runs), timeout=30_000)
    view = table.locator(
        "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-JupyterTracker-runsTable ')][1]")
    rows = view.get_by_role("status", name="Rows")

    # table.png: a filter, the columns that do not vary hidden, sorted by accuracy (best first)
    box = view.get_by_role("textbox", name="Filter expression")
    box.fill(FILTER)
    box.press("Enter")
    kept = sum(value > THRESHOLD for value in accuracy.values())
    expect(table).to_have_attribute("data-total", str(kept))
    view.get_by_role("button", name="Columns").click()
    chooser = view.get_by_role("region", name="Column chooser")
    chooser.get_by_role("switch", name="Hide columns that do not vary").check()
    expect(table.locator('th[data-column="params.dataset"]')).to_have_count(0)
    expect(table.locator('th[data-column="experiment"]')).to_have_count(0)
    page.keyboard.press("Escape")
    expect(chooser).to_have_count(0)
    click_header(page, table, "metrics.accuracy")
    expect(table.locator('th[data-column="metrics.accuracy"]')).to_have_text("metrics.accuracy ▼")
    page.wait_for_function(  # the rows of the new order are in: the best accuracy first
        "([t, best]) => { const i = [...t.tHead.rows[0].cells].findIndex(c => c.dataset.column === 'metrics.accuracy');"
        " const row = t.tBodies[0].rows[0]; return !!row && Math.abs(parseFloat(row.cells[i].textContent) - best) < 1e-5 }",
        arg=[table.element_handle(), max(accuracy.values())])
    fit_columns(page, table)
    fit_grid(page, table, kept)
    page.mouse.move(0, 0)  # no hover left on the grid
    shoot(page, view, "table.png", css_pixels=True)

    # The charts, of every run: the filter cleared, the page tall enough for the charts to show whole
    box.fill("")
    box.press("Enter")
    expect(table).to_have_attribute("data-total", str(runs))
    page.set_viewport_size({"width": 1400, "height": 1500})
    view.get_by_role("button", name="Charts").click()
    charts = view.get_by_role("region", name="Table charts")
    expect(charts.get_by_role("status", name="Charted runs")).to_have_text(f"{runs} runs")

    # chart-parallel.png: learning_rate, max_depth and seed to accuracy, a brush dragged along the accuracy axis
    # (taken with the mouse button still down: once released, the table and the chart keep the brushed runs only)
    parallel = charts.get_by_role("figure", name="Parallel coordinates")
    parallel.get_by_role("combobox", name="Metric axis").select_option("metrics.accuracy")
    expect(parallel.locator("g[data-axis]")).to_have_count(4)
    assert parallel.locator("g[data-axis]").evaluate_all("gs => gs.map(g => g.dataset.axis)") == [
        "params.learning_rate", "params.max_depth", "params.seed", "metrics.accuracy"]
    expect(parallel.locator("polyline.jp-JupyterTracker-pcLine")).to_have_count(runs)
    target = parallel.locator('rect[data-brush-axis="metrics.accuracy"]').bounding_box()
    x = target["x"] + target["width"] / 2
    page.mouse.move(x, target["y"] + 1)
    page.mouse.down()
    page.mouse.move(x, target["y"] + target["height"] * 0.4, steps=5)
    expect(parallel.locator("rect.jp-JupyterTracker-brush")).to_have_count(1)
    shoot(page, parallel, "chart-parallel.png", margin=CHART_MARGIN)  # the mouse stays where it is: the brush is drawn
    page.mouse.up()
    chip = view.get_by_role("button", name="Remove brush metrics.accuracy")
    expect(chip).to_be_visible()
    expect(table).not_to_have_attribute("data-total", str(runs))
    brushed = int(table.get_attribute("data-total"))
    expect(parallel.locator("polyline.jp-JupyterTracker-pcLine")).to_have_count(brushed)
    expect(parallel.locator("text", has_text="brushed")).to_have_count(1)
    chip.click()
    expect(table).to_have_attribute("data-total", str(runs))

    # chart-scatter.png: loss against accuracy, coloured by learning_rate
    scatter = charts.get_by_role("figure", name="Scatter")
    scatter.get_by_role("combobox", name="Scatter x").select_option("metrics.loss")
    scatter.get_by_role("combobox", name="Scatter y").select_option("metrics.accuracy")
    scatter.get_by_role("combobox", name="Colour by").select_option("params.learning_rate")
    expect(scatter.get_by_role("img", name="Scatter of metrics.accuracy against metrics.loss")).to_have_count(1)
    expect(scatter.locator("circle.jp-JupyterTracker-point")).to_have_count(runs)
    expect(scatter.get_by_role("list", name="Colours").locator("li")).to_have_count(len(LEARNING_RATES))
    page.mouse.move(0, 0)
    shoot(page, scatter, "chart-scatter.png", margin=CHART_MARGIN)

    # table-groups.png: grouped by learning_rate and max_depth (the charts hidden, the accuracy's statistics)
    view.get_by_role("button", name="Charts").click()
    expect(charts).to_have_count(0)
    view.get_by_role("button", name="Columns").click()
    chooser.get_by_role("checkbox", name="Show metrics.loss").uncheck()
    expect(table.locator('th[data-column="metrics.loss"]')).to_have_count(0)
    page.keyboard.press("Escape")
    view.get_by_role("button", name="Group by").click()
    picker = view.get_by_role("region", name="Group by params")
    picker.get_by_role("checkbox", name="Group by params.learning_rate").check()
    picker.get_by_role("checkbox", name="Group by params.max_depth").check()
    groups = len(LEARNING_RATES) * len(MAX_DEPTHS)
    expect(rows).to_have_text(f"{groups} groups")
    page.keyboard.press("Escape")
    expect(picker).to_have_count(0)
    expect(table).to_have_attribute("data-loaded-rows", str(groups))
    expect(table.locator('th[data-column="stat:mean:accuracy"]')).to_have_text("accuracy mean ▼")
    fit_columns(page, table)
    fit_grid(page, table, groups)
    page.mouse.move(0, 0)
    shoot(page, view, "table-groups.png", css_pixels=True)

    # chart-series.png: grouped by learning_rate only, the loss by step: a mean line and a min-max band per group.
    # The groups sorted by learning_rate, smallest first: the bands take their colours in the table's order, and
    # so the same as the scatter's (which orders a param's values).
    view.get_by_role("button", name="Group by (2)").click()
    picker.get_by_role("checkbox", name="Group by params.max_depth").uncheck()
    expect(rows).to_have_text(f"{len(LEARNING_RATES)} groups")
    page.keyboard.press("Escape")
    expect(picker).to_have_count(0)
    header = table.locator('th[data-column="by:params.learning_rate"]')
    for _ in range(2):  # a first click sorts one way, a second the other
        if header.text_content().endswith("▲"):
            break
        click_header(page, table, "by:params.learning_rate")
        expect(header).to_have_text(re.compile("[▲▼]$"))
    expect(header).to_have_text("params.learning_rate ▲")
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text(str(LEARNING_RATES[0]))
    page.set_viewport_size({"width": 1400, "height": 1500})
    view.get_by_role("button", name="Charts").click()
    steps = charts.get_by_role("figure", name="Step series")
    steps.get_by_role("combobox", name="Step metric").select_option("metrics.loss")
    bands = steps.locator("g.jp-JupyterTracker-band")
    expect(bands).to_have_count(len(LEARNING_RATES))
    for index, learning_rate in enumerate(LEARNING_RATES):  # in the table's order: the scatter's colours
        expect(bands.nth(index)).to_have_attribute("data-group", f"learning_rate={learning_rate}")
    per_group = runs // len(LEARNING_RATES)
    for band in bands.all():
        expect(band.locator("polygon")).to_have_count(1)
        expect(band.locator("polyline")).to_have_attribute("points", re.compile(rf"^(\S+ ){{{STAGES - 1}}}\S+$"))
        expect(band.locator("polyline title")).to_contain_text(f"mean of {per_group} runs")
    page.mouse.move(0, 0)
    shoot(page, steps, "chart-series.png", margin=CHART_MARGIN)


def main() -> None:
    expect.set_options(timeout=15_000)  # a shared machine: a page of rows or a chart may take seconds
    started = time.monotonic()
    written: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jt-screenshots-") as folder:
        workdir = Path(folder)
        written += sidebar_pictures(workdir / "sidebar")
        written += table_pictures(workdir / "table")
    print(f"wrote {', '.join('docs/' + name for name in written)} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
