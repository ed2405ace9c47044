"""The JupyterLab sidebar in a real browser: headless Debian Chromium driving a real JupyterLab.

One JupyterLab server for the module, over a store of 10,000 runs plus a few named ones. A missing
Chromium fails these tests (lab_harness.launch_chromium); it never skips them. A failing test saves
a screenshot in tests/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from conftest import KernelSession
from jupyter_tracker.store import Store
from lab_harness import PANEL_TAB, Lab, launch_chromium, open_lab, open_panel, start_lab
from helpers import record_run

pytestmark = pytest.mark.slow  # a real JupyterLab server and headless Chromium

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
EVIL = "<img src=x onerror=alert(1)>"
LIVE_CELL = "%%track live_cell --experiment browser\nn_estimators = 123\nacc = 0.5\nf1 = 0.25"
# About 8 s of training: a loss point every 0.25 s, written to the store while the cell runs (issue 12).
TRAINING_CELL = """%%track live_loss --experiment training
import time
for i in range(32):
    jupyter_tracker.log_metric("loss", 1 / (i + 1), step=i)
    time.sleep(0.25)
"""


@pytest.fixture(scope="module")
def named_runs(tmp_path_factory: pytest.TempPathFactory, store_of_10000_runs: Path) -> tuple[Path, dict[str, str]]:
    """The 10,000-run store plus runs the tests look for: two runs of one cell, and one with markup."""
    import pandas as pd

    from jupyter_tracker.capture.data import fingerprint

    workdir = tmp_path_factory.mktemp("lab")
    db = workdir / "tracker.db"
    shutil.copy(store_of_10000_runs, db)
    store = Store(db)
    now = time.time()
    frame = pd.DataFrame({"age": [31, 45, 27], "income": [1.0, 2.0, 3.0]})
    ids = {
        "rf_100": record_run(store, "train", "churn", params={"n_estimators": 100, "model": "rf"},
                             metrics={"acc": 0.81, "f1": 0.7}, series={"loss": [0.9, 0.6, 0.45, 0.4]},
                             seeds={"numpy.random.seed": 7}, inputs={"X_train": fingerprint(frame)}, start=now - 300),
        "rf_200": record_run(store, "train", "churn", params={"n_estimators": 200, "model": "rf"},
                             metrics={"acc": 0.86, "f1": 0.7}, series={"loss": [0.8, 0.5, 0.3, 0.2]},
                             seeds={"numpy.random.seed": 7},
                             inputs={"X_train": fingerprint(frame.assign(income=[1.0, 2.5, 3.0]))}, start=now - 200),
        "xss": record_run(store, "xss", "safety", params={"html": EVIL}, start=now - 100),
    }
    store.close()
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext jupyter_tracker"), nbformat.v4.new_code_cell(LIVE_CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (workdir / "root").mkdir()
    nbformat.write(notebook, workdir / "root" / "tracked.ipynb")
    return db, ids


@pytest.fixture(scope="module")
def lab(named_runs: tuple[Path, dict[str, str]]) -> Lab:
    db, _ = named_runs
    yield from start_lab(db.parent, db)


@pytest.fixture(scope="module")
def ids(named_runs: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return named_runs[1]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def screenshot_on_failure(request: pytest.FixtureRequest):
    """Pages registered here are saved to tests/screenshots/<test>-<n>.png if the test fails."""
    pages: list[Page] = []
    yield pages
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        for number, page in enumerate(pages):
            path = SCREENSHOTS / f"{request.node.name}-{number}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"screenshot saved: {path}")
            except Exception as error:  # noqa: BLE001  (a closed page must not hide the test's own failure)
                print(f"could not save {path}: {error}")
    for page in pages:
        page.context.close()


@pytest.fixture
def page(browser, lab: Lab, screenshot_on_failure: list[Page]) -> Page:
    page = open_lab(browser, lab)
    screenshot_on_failure.append(page)
    return page


def group(panel, name: str):  # noqa: ANN001, ANN201
    """An experiment's group in the sidebar, opened."""
    section = panel.get_by_role("region", name=f"Experiment {name}")
    header = section.get_by_role("button", name=re.compile(re.escape(name)))
    expect(header).to_be_visible()
    if header.get_attribute("aria-expanded") == "false":
        header.click()
    return section


# ---------------------------------------------------------------------------------------------- tests
def test_a_cell_tracked_in_a_notebook_appears_in_the_open_sidebar(browser, lab: Lab, screenshot_on_failure):
    # Given the notebook open in JupyterLab, and the sidebar open beside it
    page = open_lab(browser, lab, "lab/tree/tracked.ipynb?reset")
    screenshot_on_failure.append(page)
    panel = open_panel(page)
    expect(panel.get_by_role("region", name="Experiment churn")).to_be_visible()
    expect(panel.get_by_text("live_cell")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_be_visible(
        timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the current widget
    # When its cells are run from the Run menu
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # Then the cell prints its summary, and its run shows in the sidebar without a reload
    expect(page.locator(".jupyter-tracker-summary")).to_contain_text("live_cell", timeout=90_000)
    row = panel.get_by_role("button", name=re.compile(r"^Open run live_cell [0-9a-f]{8}$"))
    expect(row).to_be_visible(timeout=30_000)
    shown = time.time()
    (recorded,) = lab.api("runs?q=live_cell")["runs"]
    assert shown - (recorded["start"] + recorded["duration"]) < 10, "the new run took more than 10 s to show"
    expect(panel.get_by_role("region", name="Experiment browser")).to_contain_text("acc=0.5")


def test_comparing_two_runs_shows_their_differences(page: Page, ids: dict[str, str]):
    # Given the two runs of "train" in the sidebar
    panel = open_panel(page)
    churn = group(panel, "churn")
    # When both are selected and compared
    for key in ("rf_100", "rf_200"):
        churn.get_by_role("checkbox", name=f"Select train {ids[key][:8]}").check()
    panel.get_by_role("button", name="Compare 2 runs").click()
    view = page.get_by_role("article", name="Comparison of 2 runs")
    # Then the differing param is highlighted with both values, the equal one is not
    params = view.get_by_role("region", name="Params")
    n_estimators = params.get_by_role("row").filter(has_text="n_estimators")
    expect(n_estimators).to_have_attribute("data-differs", "true")
    expect(n_estimators).to_contain_text("100")
    expect(n_estimators).to_contain_text("200")
    expect(params.get_by_role("row").filter(has_text="model")).to_have_attribute("data-differs", "false")
    # and so are the metric that moved (with its delta) and the input whose column changed
    acc = view.get_by_role("region", name="Metrics").get_by_role("row").filter(has_text="acc")
    expect(acc).to_have_attribute("data-differs", "true")
    expect(acc).to_contain_text("+0.05")
    data = view.get_by_role("region", name="Data").get_by_role("row").filter(has_text="X_train")
    expect(data).to_contain_text("changed: income")
    # and the charts: final values across runs, and the step series of both runs
    expect(view.get_by_role("figure", name="Chart of acc")).to_be_visible()
    steps = view.get_by_role("figure", name="Chart of loss by step")
    expect(steps.locator("polyline")).to_have_count(2)


def test_a_param_holding_markup_is_shown_as_text_and_runs_no_script(page: Page, ids: dict[str, str]):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # Given a run whose param is an HTML payload, found by searching
    panel = open_panel(page)
    panel.get_by_role("searchbox", name="Search runs").fill("xss")
    safety = group(panel, "safety")
    expect(safety).to_contain_text("html=<img src=x oner")  # the row shows the param as text (shortened)
    # When its detail is opened
    safety.get_by_role("button", name=f"Open run xss {ids['xss'][:8]}").click()
    detail = page.get_by_role("article", name=f"Run xss {ids['xss'][:8]}")
    # Then the value appears literally, and no element or script came from it
    expect(detail.get_by_role("region", name="Params").get_by_text(EVIL, exact=True)).to_be_visible()
    page.wait_for_timeout(500)
    assert page.locator('img[src="x"]').count() == 0
    assert dialogs == []


def test_search_and_sort_by_a_metric(page: Page, lab: Lab):
    panel = open_panel(page)
    # When the runs are sorted by a metric
    started = time.monotonic()
    panel.get_by_role("combobox", name="Sort by").select_option("metrics.acc")
    best = lab.api("runs?experiment=churn&sort=metrics.acc&order=desc&limit=1")["runs"][0]
    churn = group(panel, "churn")
    # Then each experiment lists its best run first
    expect(churn.get_by_role("listitem").first).to_contain_text(best["run_id"][:8])
    expect(churn.get_by_role("listitem").first).to_contain_text("acc=0.86")
    # and reversing the order puts the worst first
    panel.get_by_role("button", name="Descending order").click()
    expect(churn.get_by_role("listitem").first).to_contain_text("acc=0.81")
    # When a search is typed
    panel.get_by_role("searchbox", name="Search runs").fill("gbm b12")
    # Then the groups count only the matching runs, as the server does
    expected = {e["name"]: e["runs"] for e in lab.api("experiments?q=gbm+b12")["experiments"]}
    assert expected and "churn" not in expected
    expect(panel.get_by_role("region", name="Experiment churn")).to_have_count(0)
    for name, count in expected.items():
        expect(panel.get_by_role("region", name=f"Experiment {name}").locator(".jp-JupyterTracker-count")) \
            .to_have_text(str(count))
    assert time.monotonic() - started < 10


def test_first_page_of_10000_runs_shows_and_scrolling_loads_the_next_page(page: Page, lab: Lab,
                                                                                  capsys: pytest.CaptureFixture):
    # Given a store of 10,000 runs (4 experiments of 2,500) and JupyterLab loaded
    assert lab.api("status")["runs"] > 10_000
    # When the sidebar is opened
    started = time.monotonic()
    page.click(PANEL_TAB)
    panel = page.locator("#jupyter-tracker-panel")
    first_rows = panel.locator(".jp-JupyterTracker-row")
    first_rows.first.wait_for()
    elapsed = time.monotonic() - started
    server_ms = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/jupyter-tracker/api/runs'))"
        ".map(e => (e.serverTiming.find(t => t.name === 'api') || {}).duration)")
    # Then its first page shows (its time is printed; bench/ measures, tests do not time)
    # When a big experiment is scrolled to its end
    exp = group(panel, "exp0")
    rows = exp.get_by_role("listitem")
    expect(rows).to_have_count(50)
    started = time.monotonic()
    rows.last.scroll_into_view_if_needed()
    # Then the next page arrives (paged by the server, not all 2,500 at once)
    expect(rows).to_have_count(100, timeout=5_000)
    scrolled = time.monotonic() - started
    with capsys.disabled():
        print(f"\n  sidebar, 10,000 runs: first page {elapsed * 1000:.0f} ms in the browser "
              f"(server time of its runs request(s): {server_ms} ms); next page on scroll {scrolled * 1000:.0f} ms")


@pytest.fixture(scope="module")
def notebook_run(lab: Lab) -> str:
    """A run recorded by a real notebook execution (it has a history to re-execute): the one the first
    test made in JupyterLab, or one made now with nbclient when that test did not run."""
    found = lab.api("runs?q=live_cell")["runs"]
    if not found:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output",
             "executed.ipynb", "tracked.ipynb"],
            cwd=lab.root, check=True, capture_output=True, timeout=300,
            env={**os.environ, "JUPYTER_TRACKER_DB": str(lab.db)},
        )
        found = lab.api("runs?q=live_cell")["runs"]
    return found[0]["run_id"]


def test_rerun_button_shows_progress_and_the_verdict(page: Page, notebook_run: str):
    # Given the detail of a run recorded by a notebook cell
    panel = open_panel(page)
    panel.get_by_role("searchbox", name="Search runs").fill("live_cell")
    group(panel, "browser").get_by_role("button", name=f"Open run live_cell {notebook_run[:8]}").click()
    detail = page.get_by_role("article", name=f"Run live_cell {notebook_run[:8]}")
    # When it is rerun
    detail.get_by_role("button", name="Rerun", exact=True).click()
    # Then progress shows while it runs, and then the verdict
    verdict = detail.get_by_role("status", name="Rerun verdict")
    expect(detail.get_by_role("status", name="Rerun progress").or_(verdict)).to_be_visible()
    expect(verdict).to_contain_text("REPRODUCED", timeout=180_000)
    expect(verdict.get_by_role("button", name=re.compile(r"^run [0-9a-f]{8}$"))).to_be_visible()


def chart_points(detail) -> int:  # noqa: ANN001
    """How many points the detail's step chart of loss draws now (0 before it is drawn)."""
    line = detail.get_by_role("figure", name="Chart of loss").locator("polyline")
    if line.count() == 0:
        return 0
    return len((line.get_attribute("points") or "").split())


def test_a_running_run_shows_live_in_the_sidebar_and_turns_finished_by_itself(
        page: Page, lab: Lab, capsys: pytest.CaptureFixture):
    # Given a kernel recording into the store the sidebar shows, and the sidebar open
    panel = open_panel(page)
    kernel = KernelSession(lab.root, {**os.environ, "JUPYTER_TRACKER_DB": str(lab.db), "PYTHONHASHSEED": "0"})
    try:
        kernel.run("%load_ext jupyter_tracker\nimport jupyter_tracker")
        # When a %%track cell logs a loss point every 0.25 s for about 8 s
        started = time.monotonic()
        cell = threading.Thread(target=kernel.run, args=(TRAINING_CELL,), daemon=True)
        cell.start()
        # Then its run shows as running, with its elapsed time
        row = group(panel, "training").get_by_role("listitem").filter(has_text="live_loss")
        expect(row).to_contain_text(re.compile(r"running \d+(\.\d)? (ms|s)"), timeout=10_000)
        run_id = row.get_attribute("data-run-id")
        # and its detail's step chart gains points while the cell runs, without a reload
        row.get_by_role("button", name=re.compile(r"^Open run live_loss")).click()
        detail = page.get_by_role("article", name=f"Run live_loss {run_id[:8]}")
        status = detail.get_by_role("status", name="Run status")
        expect(status).to_have_text("running")
        expect(detail.get_by_label("Elapsed time")).to_be_visible()
        expect(detail.get_by_role("figure", name="Chart of loss").locator("polyline")).to_be_visible(timeout=10_000)
        seen: list[int] = []  # points drawn, read only while the cell is still running
        deadline = time.monotonic() + 8
        while len(set(seen)) < 3 and time.monotonic() < deadline:
            points = chart_points(detail)
            if not cell.is_alive():
                break
            seen.append(points)
            page.wait_for_timeout(300)
        growing = sorted(set(seen))
        assert len(growing) >= 2, f"the chart drew {growing} points while the cell ran: it did not grow live"
        assert seen == sorted(seen), f"points went back: {seen}"
        # When the cell ends
        cell.join(timeout=60)
        assert not cell.is_alive()
        ended = time.monotonic()
        # Then the detail turns finished by itself, with all 32 points drawn
        expect(status).to_have_text("finished", timeout=10_000)
        turned = time.monotonic() - ended
        expect(detail.get_by_role("figure", name="Chart of loss").locator("polyline")).to_have_attribute(
            "points", re.compile(r"^(\S+ ){31}\S+$"))
        expect(row).not_to_contain_text("running")
    finally:
        kernel.shutdown()
    with capsys.disabled():
        print(f"\n  live run: chart points seen {growing} while it ran ({ended - started:.1f} s); "
              f"finished shown {turned * 1000:.0f} ms after the cell ended")
