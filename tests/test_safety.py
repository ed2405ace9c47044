"""The tracker never breaks a user's cell; a killed kernel leaves a readable store."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from jupyter_tracker.store import Store

from conftest import run_cli


def make_read_only(path: Path) -> None:
    # SQLite treats a file whose header "write version" byte is above 2 as read-only.
    data = bytearray(path.read_bytes())
    data[18] = 3
    path.write_bytes(bytes(data))


def test_read_only_store_leaves_results_and_exceptions_unchanged_with_one_warning(kernel, tracker_db):
    # Given a store the tracker can read but not write
    Store(tracker_db).close()
    make_read_only(tracker_db)
    before = tracker_db.read_bytes()
    # When a tracked cell returns a value
    out = kernel.run("%%track second\ny = 40 + 2\ny")
    # Then the value is shown as without the magic, with exactly one warning line
    assert "42" in out.text()
    assert len(out.warning_lines()) == 1 and "attempt to write a readonly database" in out.warning_lines()[0]
    assert kernel.value("y") == 42
    # When a tracked cell raises
    failed = kernel.run("%%track third\nraise ZeroDivisionError('user error')", allow_error=True)
    assert failed.error["ename"] == "ZeroDivisionError" and failed.error["evalue"] == "user error"
    assert len(failed.warning_lines()) == 1
    assert tracker_db.read_bytes() == before


def test_object_whose_hashing_raises_does_not_change_the_cell(kernel, tracker_db):
    kernel.run("import pandas as pd\nclass Exploding(pd.DataFrame):\n"
               "    @property\n    def dtypes(self):\n        raise RuntimeError('boom')\n"
               "    @property\n    def columns(self):\n        raise RuntimeError('boom')\n"
               "frame = Exploding({'a': [1, 2]})")
    out = kernel.run("%%track uses_it\nvalue = 7 * 6\nvalue")
    assert "42" in out.text()
    out = kernel.run("%%track uses_frame\ntotal = len(frame)\ntotal")
    assert "2" in out.text()
    assert len(out.warning_lines()) == 1
    run = Store(tracker_db).get_run(Store(tracker_db).runs_frame()["run_id"].iloc[-1])
    assert run.status == "finished"
    assert any("cannot fingerprint" in w for w in run.warnings)


def test_magic_output_and_display_semantics_match_an_untracked_cell(kernel):
    plain = kernel.run("print('side effect')\n1 + 1")
    tracked = kernel.run("%%track same\nprint('side effect')\n1 + 1")
    assert tracked.stdout == plain.stdout
    assert plain.displays[-1]["text/plain"] in tracked.text()
    silenced = kernel.run("%%track quiet\n1 + 1;")
    assert "2" not in [d.get("text/plain") for d in silenced.displays]


def test_tracking_off_runs_cells_without_recording(kernel, tracker_db):
    kernel.run("%%track one\nx = 1")
    kernel.run("%track off")
    out = kernel.run("%%track two\nx = 2\nx")
    assert "2" in out.text() and "[jupyter_tracker]" not in out.text()
    kernel.run("%track on")
    kernel.run("%%track three\nx = 3")
    assert Store(tracker_db).runs_frame()["name"].tolist() == ["one", "three"]


def test_kernel_killed_mid_cell_leaves_an_interrupted_run_and_a_healthy_store(kernel, tracker_db):
    # Given a tracked cell that is still running
    pid = kernel.value("__import__('os').getpid()")
    kernel.client.execute("%%track doomed\nimport time\ntime.sleep(60)")
    deadline = time.time() + 30
    while time.time() < deadline:
        if tracker_db.exists() and not Store(tracker_db).runs_frame().empty:
            break
        time.sleep(0.1)
    # When the kernel is killed with SIGKILL
    os.kill(pid, signal.SIGKILL)
    kernel.manager.provisioner.process.wait(timeout=10)  # reap it, as the notebook server would
    # Then doctor passes and reports the run as interrupted
    result = run_cli("doctor", db=tracker_db)
    assert result.code == 0, result.stdout + result.stderr
    assert "marked 1 killed run(s) interrupted" in result.stdout
    run = Store(tracker_db).get_run(Store(tracker_db).runs_frame()["run_id"].iloc[-1])
    assert run.status == "interrupted" and run.end is not None
