"""A real JupyterLab server and Debian's headless Chromium, driven with Python playwright.

Used by tests/test_sidebar.py and docs/screenshots.py. Playwright never downloads a browser
here: it launches /usr/bin/chromium, which `make test` installs with apt-get.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

CHROMIUM = os.environ.get("JUPYTER_TRACKER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--no-first-run",
]
PANEL_TAB = '.jp-SideBar [data-id="jupyter-tracker-panel"]'
PANEL = "#jupyter-tracker-panel"


@dataclass
class Lab:
    base_url: str
    token: str
    root: Path
    db: Path
    log: Path

    def url(self, path: str = "lab") -> str:
        joiner = "&" if "?" in path else "?"
        return f"{self.base_url}/{path}{joiner}token={self.token}"

    def api(self, path: str) -> dict:
        request = urllib.request.Request(f"{self.base_url}/jupyter-tracker/api/{path}",
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_lab(workdir: Path, db: Path) -> Iterator[Lab]:
    """JupyterLab on ``workdir/root`` showing the store ``db`` (kernels it starts record there too).

    Its settings and workspaces live in ``workdir``: no news toast, no kernel dialog (a notebook starts
    its kernel), and every page load starts from a fresh layout.
    """
    root, settings, workspaces = workdir / "root", workdir / "settings", workdir / "workspaces"
    for folder in (root, settings, workspaces):
        folder.mkdir(parents=True, exist_ok=True)
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    notebook_settings = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    notebook_settings.parent.mkdir(parents=True, exist_ok=True)
    notebook_settings.write_text(json.dumps({"autoStartDefaultKernel": True}))  # no "Select Kernel" dialog
    token, port = secrets.token_hex(16), free_port()
    log = workdir / "lab.log"
    env = {**os.environ, "JUPYTER_TRACKER_DB": str(db), "PYTHONHASHSEED": "0"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
             f"--LabApp.workspaces_dir={workspaces}"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    lab = Lab(base_url=f"http://127.0.0.1:{port}", token=token, root=root, db=db, log=log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                lab.api("status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer in 90 s:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield lab
    finally:
        # The server and the kernels it started are one process group.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def launch_chromium(playwright):  # noqa: ANN001, ANN201
    """Debian's chromium, headless. Missing, it is an error that says how to install it, never a skip."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        raise RuntimeError(
            f"Chromium not found at {CHROMIUM}: the browser tests need it. Install it with "
            "`apt-get update && apt-get install -y chromium` (make test does), or set JUPYTER_TRACKER_CHROMIUM."
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_lab(browser, lab: Lab, path: str = "lab?reset"):  # noqa: ANN001, ANN201
    """A new page on JupyterLab, once its left side bar is there."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(lab.url(path))
    page.wait_for_selector(PANEL_TAB, timeout=90_000)
    return page


def open_panel(page):  # noqa: ANN001, ANN201
    """Click the sidebar's tab (if the panel is not shown yet) and return the panel."""
    panel = page.locator(PANEL)
    if not panel.is_visible():
        page.click(PANEL_TAB)
    panel.wait_for(state="visible")
    return panel


OPEN_TABLE = "Experiment Tracker: Open runs table"


def open_from_palette(page, before_enter=lambda: None) -> None:  # noqa: ANN001
    """Open the runs table of every run from the command palette; ``before_enter`` runs just before Enter."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect

    palette = page.locator(".lm-CommandPalette-input")
    for attempt in range(3):
        # A page still loading (a busy machine) may miss the shortcut, or close the palette as something
        # takes the focus: then again (never pressed while the palette is open: it would close it).
        try:
            if not palette.is_visible():
                page.keyboard.press("Control+Shift+C")
                palette.wait_for(state="visible", timeout=10_000)
            palette.fill(OPEN_TABLE, timeout=5_000)
            expect(page.locator(".lm-CommandPalette-item.lm-mod-active")).to_contain_text(OPEN_TABLE)
            break
        except (PlaywrightTimeoutError, AssertionError):
            if attempt == 2:
                raise
    before_enter()
    palette.press("Enter")
