"""The runs table (issue 14) in a real JupyterLab and headless Chromium: how soon its first rows show, and
how long it takes to repaint.

    python bench/browser.py STORE.db [--rounds 3] [--work DIR]

``table_first_paint`` is what bench/cases.py calls for its runs-table case; ``table_repaint`` times
scrolling and sorting. Both start their own JupyterLab on 127.0.0.1 over the store (tests/lab_harness.py's
``start_lab``) and Debian's Chromium (``launch_chromium``), and stop both when they return or fail.

The table reports its own times in its hidden text table (RunsTable.tsx): ``data-first-rows-ms`` (from
the table's creation to its first rows) and ``data-paint-ms`` (the slowest of the grid's last 50 paints).
The server's are its answers' ``Server-Timing: api;dur=MS`` (the store's query and the answer's JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from lab_harness import Lab, launch_chromium, open_from_palette, start_lab  # noqa: E402

TABLE_NAME = "Runs of all experiments"  # the hidden text table's label (RunsTable.tsx)
TABLE_ROUTE = "/jupyter-tracker/api/table"

# In the page before JupyterLab loads: room for every resource timing (JupyterLab's own load fills the
# default 250), and the in-page time of the palette's Enter.
INIT_SCRIPT = """
performance.setResourceTimingBufferSize(100000);
window.__benchEnter = null;
document.addEventListener('keydown', event => {
  if (event.key === 'Enter' && event.target && event.target.classList
      && event.target.classList.contains('lm-CommandPalette-input')) {
    window.__benchEnter = performance.now();
  }
}, true);
"""

# {done}: a promise of the in-page time at which the table's first rows were written (its data-first-rows-ms
# set). In an object: evaluate_handle would wait for a promise returned as it is.
WATCH_FIRST_ROWS = """
(name) => ({done: new Promise(resolve => {
  const found = () => [...document.querySelectorAll('table[aria-label]')].find(
    t => t.getAttribute('aria-label') === name && t.dataset.firstRowsMs);
  if (found()) { resolve(performance.now()); return; }
  const observer = new MutationObserver(() => {
    if (found()) { observer.disconnect(); resolve(performance.now()); }
  });
  observer.observe(document.body, {subtree: true, childList: true, attributes: true,
                                   attributeFilter: ['data-first-rows-ms']});
})})
"""

TABLE_REQUESTS = f"""
() => performance.getEntriesByType('resource').filter(e => e.name.includes('{TABLE_ROUTE}')).map(e => ({{
  url: e.name, start: e.startTime, end: e.responseEnd, bytes: e.encodedBodySize,
  api: (e.serverTiming.find(t => t.name === 'api') || {{}}).duration ?? null
}}))
"""


@contextmanager
def _lab_and_browser(db: Path, work: Path) -> Iterator[tuple[Lab, Any]]:
    """JupyterLab over ``db`` (its settings and workspaces in ``work``) and a headless Chromium, both
    stopped on exit (the lab's process group killed by start_lab's own clean-up)."""
    from playwright.sync_api import sync_playwright

    work.mkdir(parents=True, exist_ok=True)
    lab_process = start_lab(work, Path(db))
    lab = next(lab_process)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                yield lab, browser
            finally:
                browser.close()
    finally:
        lab_process.close()  # runs start_lab's finally: the server and its kernels are ended


def _open_page(browser: Any, lab: Lab) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(INIT_SCRIPT)
    try:
        page = context.new_page()
        page.goto(lab.url("lab?reset"))
        page.wait_for_selector('.jp-SideBar [data-id="jupyter-tracker-panel"]', timeout=90_000)
    except BaseException:
        context.close()
        raise
    return page


def _open_table(page: Any) -> tuple[Any, float, float]:
    """Open the table of all runs from the command palette; (its text table, caller's seconds from
    Enter to the first rows, the same in the page's clock)."""
    from playwright.sync_api import expect

    watched: dict[str, Any] = {}

    def watch() -> None:
        watched["promise"] = page.evaluate_handle(WATCH_FIRST_ROWS, TABLE_NAME)  # resolved in the page
        watched["started"] = time.monotonic()

    open_from_palette(page, before_enter=watch)
    table = page.get_by_role("table", name=TABLE_NAME)
    expect(table).to_have_attribute("data-first-rows-ms", re.compile(r"^\d+$"), timeout=120_000)
    wall = time.monotonic() - watched["started"]
    shown_at = page.evaluate("watch => watch.done", watched["promise"])
    enter_at = page.evaluate("() => window.__benchEnter")
    in_page = (shown_at - enter_at) / 1000 if enter_at is not None else wall
    return table, wall, in_page


def table_first_paint(db: Path, work: Path, rounds: int) -> dict[str, list[float]]:
    """Open the runs table of all runs from the command palette ``rounds`` times, each in a fresh page of a
    JupyterLab over ``db``, and return per round, in seconds:

    - ``first_rows_s``: from the table's creation to its first rows (the table's ``data-first-rows-ms``);
    - ``from_command_s``: from the palette's Enter to the first rows, as the page's clock sees it (the
      keydown and the text table's change, observed by this caller);
    - ``server_s``: the server's time on the first table request (its ``Server-Timing`` api duration).
    """
    measured: dict[str, list[float]] = {"first_rows_s": [], "from_command_s": [], "server_s": []}
    with _lab_and_browser(Path(db), Path(work)) as (lab, browser):
        for _ in range(rounds):
            page = _open_page(browser, lab)
            try:
                table, _wall, from_command = _open_table(page)
                measured["first_rows_s"].append(int(table.get_attribute("data-first-rows-ms")) / 1000)
                measured["from_command_s"].append(from_command)
                requests = page.evaluate(TABLE_REQUESTS)
                first = min(requests, key=lambda r: r["start"]) if requests else None
                measured["server_s"].append(
                    first["api"] / 1000 if first and first["api"] is not None else float("nan"))
            finally:
                page.context.close()
    return measured


def table_repaint(db: Path, work: Path, rounds: int, scrolls: int = 10) -> dict[str, list[float]]:
    """Repaints of the runs table of all runs, in seconds, ``rounds`` fresh pages:

    - ``scroll_frame_s``: a wheel turn of 10 rows to the second animation frame after it (the grid
      scrolled and painted), each of ``scrolls`` turns;
    - ``paint_s``: the slowest of the grid's last 50 paints after those scrolls (``data-paint-ms``: the
      scrolls' paints and the first ones; NaN for a table that does not report it);
    - ``sort_s``: a click on the name header to the sorted rows in the text table, and ``sort_server_s``
      the server's time on that request (the rest is the browser's);
    - ``response_bytes``: the size of the first table answer (bytes, not seconds).
    """
    measured: dict[str, list[float]] = {
        "scroll_frame_s": [], "paint_s": [], "sort_s": [], "sort_server_s": [], "response_bytes": []}
    with _lab_and_browser(Path(db), Path(work)) as (lab, browser):
        for _ in range(rounds):
            page = _open_page(browser, lab)
            try:
                table, _, _ = _open_table(page)
                requests = page.evaluate(TABLE_REQUESTS)
                measured["response_bytes"].append(float(min(requests, key=lambda r: r["start"])["bytes"]))
                page.wait_for_timeout(500)
                grid = table.locator("xpath=..").locator(".jp-JupyterTracker-grid")
                for _ in range(scrolls):
                    measured["scroll_frame_s"].append(grid.evaluate(
                        """g => new Promise(resolve => {
                            const started = performance.now();
                            g.dispatchEvent(new WheelEvent('wheel', {deltaY: 240, bubbles: true, cancelable: true}));
                            requestAnimationFrame(() => requestAnimationFrame(() => resolve((performance.now() - started) / 1000)));
                        })"""))
                    page.wait_for_timeout(50)
                page.wait_for_timeout(400)  # the grid rests: the text table is written with the slowest paint
                paint = table.get_attribute("data-paint-ms")  # NaN for a table that does not say
                measured["paint_s"].append(float(paint) / 1000 if paint else float("nan"))
                measured["sort_s"].append(_sort_by_name(page, table, grid))
                requests = page.evaluate(TABLE_REQUESTS)
                sort = [r for r in requests if "sort=name" in r["url"]]
                measured["sort_server_s"].append(sort[-1]["api"] / 1000 if sort and sort[-1]["api"] else float("nan"))
            finally:
                page.context.close()
    return measured


def _sort_by_name(page: Any, table: Any, grid: Any) -> float:
    """Click the name header on the canvas; seconds from the mouse down to the sorted rows in the text table
    (the sorted page answered, other rows than before, all loaded, the header's arrow shown)."""
    th = table.locator('th[data-column="name"]')
    box = grid.bounding_box()
    left, width = float(th.get_attribute("data-left")), float(th.get_attribute("data-width"))
    watch = table.evaluate_handle("""t => {
        const ids = () => [...t.tBodies[0].rows].map(r => r.dataset.runId || '').join(',');
        const before = ids();
        const answered = () => performance.getEntriesByType('resource').some(
            e => e.name.includes('/jupyter-tracker/api/table') && e.name.includes('sort=name'));
        const done = () => /[▲▼]/.test(t.querySelector('th[data-column="name"]').textContent)
                           && t.dataset.loadedRows === String(t.tBodies[0].rows.length) && ids() !== before
                           && answered();
        window.__benchClick = null;
        t.parentElement.addEventListener('mousedown', () => { window.__benchClick = performance.now(); },
                                         {capture: true, once: true});
        return {done: new Promise(resolve => {
            const observer = new MutationObserver(() => {
                if (done()) { observer.disconnect(); resolve(performance.now()); }
            });
            observer.observe(t, {subtree: true, childList: true, characterData: true, attributes: true});
        })};
    }""")
    page.mouse.click(box["x"] + left + width / 2, box["y"] + 14)
    done_at = page.evaluate("watch => watch.done", watch)
    return (done_at - page.evaluate("() => window.__benchClick")) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path, help="the store (for example one of tests/test_runs_table.py's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="the lab's settings and workspaces (a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jt-browser-") as temp:
        work = args.work or Path(temp)
        results = {**table_first_paint(args.db, work / "first", args.rounds),
                   **table_repaint(args.db, work / "repaint", args.rounds)}
    for name, values in results.items():
        finite = [v for v in values if not math.isnan(v)]
        median = statistics.median(finite) if finite else float("nan")
        shown = (f"{median:,.0f} B" if name.endswith("bytes") else f"{median * 1000:.0f} ms")
        print(f"{name:>16}: median {shown}   all {json.dumps([round(v, 4) for v in values])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
