"""Small named fixtures over real parts: a store file, a real IPython kernel, the CLI."""

from __future__ import annotations

import os
import time
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

from jupyter_tracker.store import Store

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tracker_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store file path (WAL needs a real file), also exported as JUPYTER_TRACKER_DB."""
    path = tmp_path / "store" / "tracker.db"
    monkeypatch.setenv("JUPYTER_TRACKER_DB", str(path))
    return path


@pytest.fixture
def store(tracker_db: Path) -> Store:
    store = Store(tracker_db)
    yield store
    store.close()


@dataclass
class Execution:
    """What a cell did in the kernel, as a frontend would see it."""

    stdout: str = ""
    stderr: str = ""
    displays: list[dict[str, Any]] = field(default_factory=list)  # display_data / execute_result bundles
    error: dict[str, Any] | None = None  # ename, evalue, traceback
    # As a frontend keeps them: an update_display_data replaces the bundle of each display with its id.
    display_ids: list[str | None] = field(default_factory=list)
    updates: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (arrival time, bundle)
    clears: int = 0  # clear_output messages (they empty ``displays``, as the notebook does)

    def html(self) -> str:
        return "\n".join(d.get("text/html", "") for d in self.displays)

    def text(self) -> str:
        return "\n".join(d.get("text/plain", "") for d in self.displays)

    def warning_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("jupyter_tracker warning:")]


class KernelSession:
    """A real IPython kernel (ipykernel over ZeroMQ) driven like a notebook frontend."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)

    def run(self, code: str, timeout: float = 120, allow_error: bool = False) -> Execution:
        result = Execution()

        def on_message(message: dict[str, Any]) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    result.stdout += content["text"]
                else:
                    result.stderr += content["text"]
            elif kind in ("display_data", "execute_result"):
                result.displays.append(content["data"])
                result.display_ids.append((content.get("transient") or {}).get("display_id"))
            elif kind == "update_display_data":
                result.updates.append((time.monotonic(), content["data"]))
                shown = (content.get("transient") or {}).get("display_id")
                for index, display_id in enumerate(result.display_ids):
                    if display_id is not None and display_id == shown:
                        result.displays[index] = content["data"]
            elif kind == "clear_output":
                result.clears += 1
                result.displays.clear()
                result.display_ids.clear()
            elif kind == "error":
                result.error = {"ename": content["ename"], "evalue": content["evalue"],
                                "traceback": "\n".join(content["traceback"])}

        self.client.execute_interactive(code, timeout=timeout, output_hook=on_message, allow_stdin=False)
        if result.error is not None and not allow_error:
            raise AssertionError(f"cell failed: {result.error['ename']}: {result.error['evalue']}\n"
                                 f"{result.error['traceback']}")
        return result

    def value(self, expression: str) -> Any:
        """Evaluate an expression in the kernel and bring back its repr, evaluated here."""
        import ast

        out = self.run(f"print(repr({expression}))").stdout.strip()
        return ast.literal_eval(out)

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(tracker_db: Path, tmp_path: Path) -> KernelSession:
    """A fresh kernel in tmp_path/work with the extension loaded and its own store."""
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db), "PYTHONHASHSEED": "0"}
    session = KernelSession(work, env)
    try:
        session.run("%load_ext jupyter_tracker")
        yield session
    finally:
        session.shutdown()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, db: Path | None = None, cwd: Path | None = None) -> CliResult:
    """The installed command, in a subprocess, as a user types it."""
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TRACKER_DB"}
    if db is not None:
        env["JUPYTER_TRACKER_DB"] = str(db)
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_tracker", *args], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=120,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def store_of_10000_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding 10,000 runs in 4 experiments, written once per session (copy it to write to it)."""
    from helpers import record_many  # tests/ helper: runs written through the real store

    path = tmp_path_factory.mktemp("scale") / "tracker.db"
    store = Store(path)
    record_many(store, 10_000)
    store.close()  # checkpoints the WAL: the file alone holds every run
    return path


def damage_all_but_schema(path: Path) -> None:
    """Overwrite every page of an SQLite file except those of its schema, as disk damage inside a store would.

    Since schema v4 the schema no longer fits in page 1 alone: its b-tree is followed to find its pages.
    """
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    keep, todo = set(), [1]
    while todo:
        page = todo.pop()
        keep.add(page)
        start = (page - 1) * page_size
        header = start + (100 if page == 1 else 0)  # page 1 starts with the 100-byte file header
        if data[header] == 0x05:  # an interior table page: follow its child page numbers
            todo.append(int.from_bytes(data[header + 8:header + 12], "big"))
            for cell in range(int.from_bytes(data[header + 3:header + 5], "big")):
                offset = start + int.from_bytes(data[header + 12 + 2 * cell:header + 14 + 2 * cell], "big")
                todo.append(int.from_bytes(data[offset:offset + 4], "big"))
    for page in range(1, len(data) // page_size + 1):
        if page not in keep:
            data[(page - 1) * page_size:page * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))


def damaged_in_one_page(path: Path, runs: int = 120) -> str:
    """A store of ``runs`` runs with a metric series each, one page of its metric points overwritten (the
    quiet damage a disk does), and the id of a run whose own pages are sound: reading that run works, so
    only SQLite's integrity check finds the damage."""
    import sqlite3

    from jupyter_tracker.store import Store
    from helpers import record_run

    store = Store(path)
    ids = [record_run(store, "train", params={"i": i}, series={"loss": [1.0 / (s + 1) for s in range(40)]})
           for i in range(runs)]
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'metrics' AND pagetype = 'leaf' ORDER BY pageno")]
    conn.close()
    data = bytearray(path.read_bytes())
    page = leaves[len(leaves) // 2]
    data[(page - 1) * page_size:page * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    for run_id in ids:
        try:
            Store(path, create=False).get_run(run_id)
            return run_id
        except Exception:  # noqa: BLE001  (its points were on the damaged page: try the next run)
            continue
    raise AssertionError("no run of the damaged store could be read")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Keep each phase's report on the test item, so a fixture can tell that its test failed
    (the browser tests save a screenshot then)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
