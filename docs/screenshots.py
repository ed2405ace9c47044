"""Take the README's screenshots of the JupyterLab sidebar from the real UI: `make screenshots`.

Executes notebooks/quickstart.ipynb twice with papermill (4 real runs, with data fingerprints,
seeds and a loss series) into a temporary store, starts JupyterLab on it, and lets headless
Chromium save docs/sidebar.png (the sidebar and a run's detail) and docs/compare.png (a comparison).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from lab_harness import launch_chromium, open_lab, open_panel, start_lab  # noqa: E402


def record_quickstart_runs(workdir: Path, db: Path) -> None:
    env = {**os.environ, "JUPYTER_TRACKER_DB": str(db)}
    for number, parameters in enumerate(([], ["-p", "n_estimators", "120"])):
        subprocess.run(
            [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "quickstart.ipynb"),
             str(workdir / f"quickstart-{number}.ipynb"), "--cwd", str(REPO / "notebooks"), "--kernel", "python3",
             *parameters],
            check=True, env=env, capture_output=True,
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        db = workdir / "tracker.db"
        record_quickstart_runs(workdir, db)
        lab_runs = start_lab(workdir, db)
        lab = next(lab_runs)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = open_lab(browser, lab)
                panel = open_panel(page)
                rows = panel.get_by_role("button", name=re.compile(r"^Open run train "))
                expect(rows).to_have_count(4)
                panel.get_by_role("combobox", name="Sort by").select_option("metrics.acc")
                page.wait_for_timeout(800)
                rows.first.click()
                expect(page.get_by_role("region", name="Metrics").locator("polyline")).to_have_count(1)
                page.wait_for_timeout(500)
                page.screenshot(path=str(REPO / "docs" / "sidebar.png"))
                checkboxes = panel.get_by_role("checkbox", name=re.compile(r"^Select train "))
                checkboxes.nth(0).check()
                checkboxes.nth(3).check()
                panel.get_by_role("button", name="Compare 2 runs").click()
                view = page.get_by_role("article", name="Comparison of 2 runs")
                expect(view.get_by_role("figure", name="Chart of loss by step").locator("polyline")).to_have_count(2)
                page.wait_for_timeout(500)
                page.screenshot(path=str(REPO / "docs" / "compare.png"))
                browser.close()
        finally:
            lab_runs.close()
    print("wrote docs/sidebar.png and docs/compare.png")


if __name__ == "__main__":
    main()
