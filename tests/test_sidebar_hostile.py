"""Hostile values in the JupyterLab sidebar (issue 13): NaN and ±∞ metrics, and 100 KB names and values.

A real JupyterLab server over a small store recorded with the Python API, driven by headless Chromium
(tests/lab_harness.py). Every view must show non-finite numbers as NaN, ∞ and −∞ (U+2212), say how many
chart points it could not draw, and fit the window however long a value is. The widths measured are printed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

import jupyter_tracker
from lab_harness import Lab, open_lab, open_panel, start_lab
from test_sidebar import browser, group, screenshot_on_failure  # noqa: F401  (the browser fixtures, shared)

pytestmark = pytest.mark.slow  # a real JupyterLab server and headless Chromium

# 19-character names: the longest that must show in full on the compare charts (issue 13).
INFINITE, FINITE = "loss_infinite_run_1", "loss_finite_run_two"
CURVE_A = [1.0, math.nan, 0.5, math.inf, -math.inf, 0.3, 0.2]  # 3 points a chart cannot draw
CURVE_B = [0.9, 0.6, 0.4, 0.3]
NOT_SHOWN = "3 points not shown (NaN or ±∞)"

BIG = 100_000
LONG_NAME = "long_name_" + "W" * (BIG - 10)  # no space to wrap at, and the widest letter
LONG_TAG = "tag_" + "t" * (BIG - 4)
LONG_PARAM = "param_" + "p" * (BIG - 6)
LONG_METRIC = "metric_" + "m" * (5_000 - 7)
PEER = "long_values_peer"
TOLERANCE = 2  # px: rounding of fractional layout widths

WIDTHS = """() => {
  const visible = e => e.offsetParent !== null;
  const panel = document.querySelector('#jupyter-tracker-panel');
  const view = [...document.querySelectorAll('.jp-JupyterTracker-view')].find(visible);
  // The worst horizontal scroll of any scrolling element in the sidebar or the view shown.
  let scroller = 0;
  for (const root of [panel, view].filter(Boolean)) {
    for (const e of [root, ...root.querySelectorAll('*')]) {
      const overflow = getComputedStyle(e).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') && visible(e)) {
        scroller = Math.max(scroller, e.scrollWidth - e.clientWidth);
      }
    }
  }
  return {
    page: document.documentElement.scrollWidth, body: document.body.scrollWidth, window: window.innerWidth,
    panel: panel ? [panel.scrollWidth, panel.clientWidth] : null,
    view: view ? [view.scrollWidth, view.clientWidth] : null, scroller,
  };
}"""

# Some element in `root` holds `value` whole: in its title (the hover), or as its text (an expanded value).
REACHABLE = """(root, value) => [root, ...root.querySelectorAll('*')].some(
  e => (e.getAttribute('title') || '').includes(value) || (e.childElementCount === 0 && e.textContent === value))"""
# Some element in `root` shows `value` whole as its text.
SHOWN = """(root, value) => [...root.querySelectorAll('*')].some(e => e.childElementCount === 0 && e.textContent === value)"""


# Each chart label: its text, its box, whether anything in it is cut (an ellipsis), and where its bar starts.
LABEL_BOXES = """labels => labels.map(e => {
  const box = e.getBoundingClientRect(), bar = e.closest('tr')?.querySelector('[data-bar]');
  return {text: e.textContent.trim(), box: [box.left, box.top, box.right, box.bottom],
          cut: [e, ...e.querySelectorAll('*')].some(c => c.scrollWidth > c.clientWidth + 1),
          bar: bar ? bar.getBoundingClientRect().left : null};
})"""


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Runs recorded with the Python API: non-finite metrics and step series, and 100 KB values."""
    workdir = tmp_path_factory.mktemp("hostile-lab")
    db = workdir / "tracker.db"
    ids = {}
    with jupyter_tracker.start_run(INFINITE, experiment="nonfinite", db=db) as run:
        jupyter_tracker.log_metric("loss", math.inf)
        jupyter_tracker.log_metric("acc", math.nan)
        jupyter_tracker.log_metric("margin", 1.0)
        for step, value in enumerate(CURVE_A):
            jupyter_tracker.log_metric("curve", value, step=step)
    ids["infinite"] = run.run_id
    with jupyter_tracker.start_run(FINITE, experiment="nonfinite", db=db) as run:
        jupyter_tracker.log_metric("loss", 0.5)
        jupyter_tracker.log_metric("acc", 0.9)
        jupyter_tracker.log_metric("margin", -math.inf)
        for step, value in enumerate(CURVE_B):
            jupyter_tracker.log_metric("curve", value, step=step)
    ids["finite"] = run.run_id
    with jupyter_tracker.start_run(LONG_NAME, experiment="oversized", db=db) as run:
        jupyter_tracker.set_tag("notes", LONG_TAG)
        jupyter_tracker.log_param("blob", LONG_PARAM)
        for step, value in enumerate([0.3, 0.2, 0.1]):
            jupyter_tracker.log_metric(LONG_METRIC, value, step=step)
    ids["long"] = run.run_id
    with jupyter_tracker.start_run(PEER, experiment="oversized", db=db) as run:
        jupyter_tracker.set_tag("notes", "short")
        jupyter_tracker.log_param("blob", "small")
        jupyter_tracker.log_metric(LONG_METRIC, 0.4)
    ids["peer"] = run.run_id
    return db, ids


@pytest.fixture(scope="module")
def lab(hostile_runs: tuple[Path, dict[str, str]]) -> Lab:
    db, _ = hostile_runs
    yield from start_lab(db.parent, db)


@pytest.fixture(scope="module")
def ids(hostile_runs: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return hostile_runs[1]


@pytest.fixture
def page(browser, lab: Lab, screenshot_on_failure: list[Page]) -> Page:  # noqa: F811
    page = open_lab(browser, lab)
    screenshot_on_failure.append(page)
    return page


def page_errors(page: Page) -> list[str]:
    """Uncaught errors of the page from now on (a React render that throws blanks its view)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def run_row(panel: Locator, run_id: str) -> Locator:
    return panel.locator(f'[data-run-id="{run_id}"]')


def metric_cells(region: Locator, name: str) -> Locator:
    """The value cells of a table row, found by the row's header."""
    row = region.get_by_role("row").filter(has=region.page.get_by_role("rowheader", name=name, exact=True))
    return row.get_by_role("cell")


def compare(page: Page, panel: Locator, run_ids: list[str]) -> Locator:
    for run_id in run_ids:
        run_row(panel, run_id).get_by_role("checkbox").check()
    panel.get_by_role("button", name=f"Compare {len(run_ids)} runs").click()
    view = page.get_by_role("article", name=f"Comparison of {len(run_ids)} runs")
    expect(view.get_by_role("region", name="Metrics")).to_be_visible()
    return view


def show_all(root: Locator) -> None:
    """Expand every collapsed value in `root` (each button turns into "Show less")."""
    toggles = root.get_by_role("button", name=re.compile("^Show all"))
    for _ in range(toggles.count()):
        toggles.first.click()
    expect(toggles).to_have_count(0)


def widths(page: Page) -> dict:
    return page.evaluate(WIDTHS)


def fits(measured: dict) -> bool:
    panel, view = measured["panel"], measured["view"]
    return (measured["page"] <= measured["window"] + TOLERANCE
            and (panel is None or panel[0] <= panel[1] + TOLERANCE)
            and (view is None or view[0] <= view[1] + TOLERANCE)
            and measured["scroller"] <= TOLERANCE)


def describe(where: str, measured: dict) -> str:
    panel, view = measured["panel"], measured["view"]
    return (f"{where}: page {measured['page']} px in a {measured['window']} px window; sidebar {panel[0]}/{panel[1]} px"
            + (f"; view {view[0]}/{view[1]} px" if view else "")
            + f"; worst scroller overflow {measured['scroller']} px")


# ---------------------------------------------------------------------------------------------- tests
def test_non_finite_metrics_show_as_nan_and_infinity_in_every_view(page: Page, ids: dict[str, str]):
    errors = page_errors(page)
    # Given a run whose loss is inf, acc NaN and step series holds NaN, inf and -inf, beside a finite run
    panel = open_panel(page)
    nonfinite = group(panel, "nonfinite")
    # Then the list shows them as NaN and ∞
    row = run_row(nonfinite, ids["infinite"])
    expect(row).to_contain_text("acc=NaN")
    expect(row).to_contain_text("loss=∞")
    # When the run's detail is opened
    row.get_by_role("button", name=re.compile("^Open run")).click()
    detail = page.get_by_role("article", name=f"Run {INFINITE} {ids['infinite'][:8]}")
    metrics = detail.get_by_role("region", name="Metrics")
    # Then its metrics read ∞ and NaN, and its step chart says which points it could not draw
    expect(metric_cells(metrics, "loss").first).to_have_text("∞")
    expect(metric_cells(metrics, "acc").first).to_have_text("NaN")
    chart = detail.get_by_role("figure", name="Chart of curve")
    expect(chart).to_contain_text(NOT_SHOWN)
    expect(chart.locator("polyline")).to_have_attribute("points", re.compile(r"^(\S+ ){3}\S+$"))  # 4 finite
    # When the two runs are compared
    view = compare(page, panel, [ids["infinite"], ids["finite"]])
    metrics = view.get_by_role("region", name="Metrics")
    # Then values and deltas (against the first run) read ∞, −∞ and NaN
    expect(metric_cells(metrics, "loss").nth(0)).to_have_text("∞")
    expect(metric_cells(metrics, "loss").nth(1)).to_have_text("0.5 (−∞)")
    expect(metric_cells(metrics, "acc").nth(0)).to_have_text("NaN")
    expect(metric_cells(metrics, "acc").nth(1)).to_have_text("0.9")
    expect(metric_cells(metrics, "margin").nth(1)).to_have_text("−∞ (−∞)")
    # and the bar of an infinite final value is its label, not a broken bar
    bars = view.get_by_role("figure", name="Chart of loss")
    expect(bars.get_by_role("row").filter(has_text=INFINITE)).to_contain_text("∞")
    # and the step chart draws both runs and says how many points it left out
    steps = view.get_by_role("figure", name="Chart of curve by step")
    expect(steps.locator("polyline")).to_have_count(2)
    expect(steps).to_contain_text(NOT_SHOWN)
    # and the 19-character names on the charts and their legends show whole, clear of each other and of the bars
    names = {ids["infinite"]: INFINITE, ids["finite"]: FINITE}
    expected = {f"{name} {run_id[:8]}" for run_id, name in names.items()}
    labels = view.get_by_role("figure").get_by_role("rowheader").or_(
        view.get_by_role("figure").get_by_role("listitem"))
    expect(labels.first).to_be_visible()
    boxes = labels.evaluate_all(LABEL_BOXES)
    assert len(boxes) == 4 * 2 + 2, boxes  # 4 bar charts and a legend, each naming both runs
    assert {label["text"] for label in boxes} == expected, boxes
    assert not any(label["cut"] for label in boxes), f"chart labels cut: {boxes}"
    for index, first in enumerate(boxes):
        assert first["bar"] is None or first["box"][2] <= first["bar"] + 1, f"a label overlaps its bar: {first}"
        for second in boxes[index + 1:]:
            a, b = first["box"], second["box"]
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"labels overlap: {first} {second}"
    assert errors == []


def test_100_kb_values_fit_the_window_and_stay_reachable(page: Page, ids: dict[str, str],
                                                         capsys: pytest.CaptureFixture):
    errors = page_errors(page)
    figures: list[str] = []
    # Given runs with a 100 KB name, tag and param, and a 5,000-character metric name, listed in the sidebar
    panel = open_panel(page)
    long = group(panel, "oversized")
    row = run_row(long, ids["long"])
    expect(row).to_be_visible()
    listed = widths(page)
    figures.append(describe("list", listed))
    # Then the list fits its panel, and the full name is the hover of the shortened one
    assert fits(listed), figures[-1]
    assert row.evaluate(REACHABLE, LONG_NAME), "the run's full name is nowhere in its row"
    # When its detail is opened
    row.get_by_role("button", name=re.compile("^Open run")).click()
    detail = page.get_by_role("article", name=re.compile(rf"^Run long_name_W+… {ids['long'][:8]}$"))
    expect(detail.get_by_role("region", name="Params")).to_be_visible()
    shown = widths(page)
    figures.append(describe("detail", shown))
    # Then it fits the window, each long value collapsed
    assert fits(shown), figures[-1]
    expect(detail.get_by_role("button", name=re.compile("^Show all"))).to_have_count(4)  # name, tag, param, metric
    assert detail.evaluate(REACHABLE, LONG_METRIC), "the metric's full name is nowhere in the detail"
    # When every collapsed value is shown in full
    show_all(detail)
    # Then each is there whole, wrapped to the window's width
    for value in (LONG_NAME, LONG_TAG, LONG_PARAM, LONG_METRIC):
        assert detail.evaluate(SHOWN, value), f"a value of {len(value)} characters is not shown whole"
    expanded = widths(page)
    figures.append(describe("detail, values expanded", expanded))
    assert fits(expanded), figures[-1]
    # When the run is compared with another
    view = compare(page, panel, [ids["long"], ids["peer"]])
    expect(view.get_by_role("figure", name=re.compile("^Chart of metric_m+… by step$"))).to_be_visible()
    compared = widths(page)
    figures.append(describe("compare", compared))
    # Then the comparison fits the window, with the full name, param and metric name on hover or shown
    assert fits(compared), figures[-1]
    for value in (LONG_NAME, LONG_METRIC):
        assert view.evaluate(REACHABLE, value), f"a value of {len(value)} characters is unreachable"
    params = view.get_by_role("region", name="Params")
    show_all(params)
    assert params.evaluate(SHOWN, LONG_PARAM)
    figures.append(describe("compare, param expanded", widths(page)))
    assert fits(widths(page)), figures[-1]
    # and so it does in a narrow window
    page.set_viewport_size({"width": 900, "height": 900})
    expect(view).to_be_visible()
    page.wait_for_function("() => window.innerWidth === 900")
    page.wait_for_timeout(300)  # JupyterLab lays its panels out again on the resize
    figures.append(describe("compare, 900 px window", widths(page)))
    assert fits(widths(page)), figures[-1]
    assert errors == []
    with capsys.disabled():
        print("\n  100 KB values: " + "\n                 ".join(figures))
