"""No leaked processes (issue 13): the kernel of every rerun and batch execution, and all it started
(joblib/loky workers, subprocesses), its client's threads and its connection file, are gone when
the execution ends, fails, times out or is cancelled, from the server, the CLI or the API.

Processes are found two ways: as descendants of this process (the server runs in it), and by a
marker in their environment, which kernels pass on to all they start (orphans included).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

import jupyter_tracker

from pytest_jupyter.jupyter_core import *  # noqa: F401,F403
from pytest_jupyter.jupyter_server import *  # noqa: F401,F403
import test_server
from test_rerun import write_notebook

from jupyter_tracker.server.jobs import SHUTTING_DOWN

# The real jupyter_server of test_server.py, with its fixtures (pytest finds them by name here).
jp_server_config, fetch, body = test_server.jp_server_config, test_server.fetch, test_server.body

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # slow: a real server and papermill kernels

MARK = "JUPYTER_TRACKER_TEST_MARK"

# A tracked cell that leaves children behind, as notebooks do: two loky workers and a subprocess.
CHILDREN = (
    "import subprocess\n"
    "from joblib import Parallel, delayed\n"
    "squares = Parallel(n_jobs=2)(delayed(pow)(i, 2) for i in range(4))\n"
    "subprocess.Popen(['sleep', '300'])\n"
)


def descendants() -> set[int]:
    """The live processes below this one (the server's, since it runs in this process)."""
    found = set()
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                found.add(process.pid)
        except psutil.Error:
            pass
    return found


def marked(mark: str) -> list[str]:
    """Every live process whose environment carries ``MARK=mark``, wherever its parent went."""
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.pid != os.getpid() and process.environ().get(MARK) == mark:
                found.append(f"{process.pid} {process.info['name']} {' '.join(process.cmdline())[:80]}")
        except psutil.Error:
            pass
    return found


def new_threads(before: set[threading.Thread]) -> list[str]:
    """Threads started since ``before``, but for the server's pools (its job worker, its event loop's executor)."""
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()
            and not t.name.startswith(("jupyter-tracker-job", "asyncio_"))]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's temporary folder from now on (tempfile.tempdir), empty: kernels' connection files go there."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def poll(fetch, job: dict, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = body(fetch("jobs", job["job_id"]))
    return job


def record(kernel, cell: str) -> str:
    kernel.run(cell)
    return kernel.value("list(__import__('jupyter_tracker').runs(experiment='procs').run_id)")[-1]


def cli_env(db: Path, mark: str, scratch: Path) -> dict[str, str]:
    return {**os.environ, "JUPYTER_TRACKER_DB": str(db), MARK: mark, "TMPDIR": str(scratch)}


def run_batch(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    """``jupyter-tracker batch ...`` with its stdout and stderr pipes, as in ``batch ... | tee log``:
    it is over when both pipes close, that is when no process holds them any more."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "jupyter_tracker", "batch", *args], capture_output=True,
                          text=True, env=env, timeout=200)
    return done, time.monotonic() - started


# ---------------------------------------------------------------- the server
def test_reruns_from_the_server_leave_no_process_thread_or_file_behind(fetch, kernel, scratch):
    # Given a run whose cell starts loky workers and a subprocess, and a server that answered once
    run_id = record(kernel, f"%%track busy --experiment procs\n{CHILDREN}acc = sum(squares) / 14")
    assert body(fetch("status"))["rerun"] is True
    processes, threads = descendants(), set(threading.enumerate())

    # When it is rerun three times from JupyterLab
    jobs = [body(fetch("runs", run_id, "rerun", method="POST", body=b"{}")) for _ in range(3)]
    jobs = [poll(fetch, job) for job in jobs]

    # Then each rerun finished and everything its kernel started is gone
    assert [(j["state"], j["result"]["attempts"][0]["error"]) for j in jobs] == [("finished", None)] * 3, jobs
    left = descendants()
    print(f"descendants of the server before: {len(processes)}, after 3 reruns: {len(left)}")
    assert left == processes
    assert new_threads(threads) == []
    assert list(scratch.iterdir()) == []


def test_server_shutdown_cancels_a_running_rerun_at_once_and_kills_its_kernel(
        fetch, kernel, jp_serverapp, jp_asyncio_loop, monkeypatch, scratch):
    # Given a rerun of 2 attempts whose first is busy (its replay sleeps), with loky workers and a subprocess
    run_id = record(kernel, f"%%track stuck --experiment procs\n{CHILDREN}import os, time\n"
                            "if os.environ.get('JUPYTER_TRACKER_REPLAY') == '1':\n    time.sleep(300)\nacc = 1.0")
    processes, threads = descendants(), set(threading.enumerate())
    mark = secrets.token_hex(4)
    monkeypatch.setenv(MARK, mark)  # the server's kernels inherit it, and all they start
    job = body(fetch("runs", run_id, "rerun", method="POST", body=b'{"repeat": 2}'))
    deadline = time.monotonic() + 90
    while not any(" sleep " in p for p in marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert len(marked(mark)) >= 4, marked(mark)  # the kernel, its workers and its subprocess run

    # When the server shuts down
    started = time.monotonic()
    jp_asyncio_loop.run_until_complete(jp_serverapp.cleanup_extensions())
    seconds = time.monotonic() - started

    # Then it did not wait for the notebook, the job failed saying why, and nothing it started is left
    print(f"extension shutdown took {seconds:.1f} s")
    assert seconds < 10
    job = body(fetch("jobs", job["job_id"]))
    assert job["state"] == "failed" and job["error"] == SHUTTING_DOWN, job
    assert marked(mark) == []
    assert descendants() == processes
    assert new_threads(threads) == []
    assert list(scratch.iterdir()) == []


# ---------------------------------------------------------------- the CLI
FOREST = [
    "%load_ext jupyter_tracker",
    "%%track forest\n"
    "from sklearn.datasets import make_classification\n"
    "from sklearn.ensemble import RandomForestClassifier\n"
    "from sklearn.model_selection import cross_val_score\n"
    "X, y = make_classification(n_samples=60, random_state=0)\n"
    "model = RandomForestClassifier(n_estimators=5, random_state=0)\n"
    "acc = cross_val_score(model, X, y, cv=2, n_jobs=2).mean()",
]


def test_a_piped_batch_using_n_jobs_ends_with_its_notebook(tmp_path, tracker_db, scratch):
    # Given a notebook whose cell fits with n_jobs=2 (loky workers idle for 300 s before they exit)
    notebook = write_notebook(tmp_path / "forest.ipynb", FOREST)
    mark = secrets.token_hex(4)

    # When a batch of it runs with its output piped, as `batch forest.ipynb | tee log` or CI
    done, seconds = run_batch(str(notebook), "-o", str(tmp_path / "out"), env=cli_env(tracker_db, mark, scratch))

    # Then it ends with the notebook, not with the workers' idle timeout (346 s before issue 13),
    # and leaves nothing running
    print(f"piped batch took {seconds:.1f} s")
    assert done.returncode == 0, done.stderr
    assert "0 failed" in done.stdout
    assert seconds < 60
    assert marked(mark) == []
    assert list(scratch.iterdir()) == []


def test_failed_and_timed_out_executions_leave_no_kernel(tmp_path, tracker_db, scratch):
    # Given a notebook that starts children, then raises or runs past the timeout
    notebook = write_notebook(tmp_path / "bad.ipynb", [
        f"import time\n{CHILDREN}",
        "if mode == 'raise':\n    raise RuntimeError('this cell fails')\ntime.sleep(300)",
    ], parameters="mode = 'raise'")
    mark = secrets.token_hex(4)

    # When a batch runs both ways side by side, with a 3 s timeout per cell
    done, seconds = run_batch(str(notebook), "--grid", "mode=raise,hang", "--timeout", "3", "--workers", "2",
                              "-o", str(tmp_path / "out"), env=cli_env(tracker_db, mark, scratch))

    # Then both failed, the sleeping one at its timeout, and no kernel or child is left
    print(f"batch with a failure and a timeout took {seconds:.1f} s")
    assert done.returncode == 2 and "2 failed" in done.stdout, done.stdout + done.stderr
    assert "this cell fails" in done.stdout and "Timeout" in done.stdout
    assert seconds < 60
    assert marked(mark) == []
    assert list(scratch.iterdir()) == []


def test_ctrl_c_stops_a_parallel_batch_and_its_kernels(tmp_path, tracker_db, scratch):
    # Given a batch of two executions side by side, each busy in a cell, with children
    notebook = write_notebook(tmp_path / "busy.ipynb", [f"import time\n{CHILDREN}", "time.sleep(300)"],
                              parameters="n = 0")
    mark = secrets.token_hex(4)
    command = subprocess.Popen([sys.executable, "-m", "jupyter_tracker", "batch", str(notebook), "--grid", "n=1,2",
                                "--workers", "2", "-o", str(tmp_path / "out")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(tracker_db, mark, scratch))
    deadline = time.monotonic() + 90
    while sum(" sleep " in p for p in marked(mark)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert sum(" sleep " in p for p in marked(mark)) == 2, marked(mark)

    # When the user presses Ctrl-C
    started = time.monotonic()
    command.send_signal(signal.SIGINT)
    command.communicate(timeout=60)
    seconds = time.monotonic() - started

    # Then the command ends at once, its kernels with it
    print(f"Ctrl-C ended the batch in {seconds:.1f} s")
    assert command.returncode != 0 and seconds < 15
    assert marked(mark) == []
    assert list(scratch.iterdir()) == []


# ---------------------------------------------------------------- kernels that do not start
# A kernel command that misbehaves on its first starts, counted in a file, then is a real kernel:
# it hangs without answering (a lost port race, a stalled machine) or dies with a message on stderr.
FLAKY_KERNEL = """\
import sys, time
from pathlib import Path
count = Path(sys.argv[1])
start = len(count.read_text()) if count.exists() else 0
count.write_text("x" * (start + 1))
plan = sys.argv[2].split(",")
if start < len(plan) and plan[start] == "hang":
    time.sleep(600)
if start < len(plan) and plan[start] == "die":
    sys.exit("address already in use (start %d)" % (start + 1))
sys.argv = [sys.argv[0], *sys.argv[3:]]
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


def flaky_kernel(folder: Path, plan: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kernelspec "flaky" that hangs or dies on its first starts as ``plan`` says (e.g. "hang,die");
    returns the file counting its starts."""
    import json

    spec = folder / "jupyter" / "kernels" / "flaky"
    spec.mkdir(parents=True)
    (folder / "flaky.py").write_text(FLAKY_KERNEL)
    count = folder / "starts"
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(folder / "flaky.py"), str(count), plan, "-f", "{connection_file}"],
        "display_name": "flaky", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(folder / "jupyter"))
    return count


def test_a_kernel_that_hangs_or_dies_before_answering_is_started_again(tmp_path, tracker_db, scratch, monkeypatch):
    from jupyter_tracker.repro import engine

    # Given a kernel that hangs on its first start and dies on its second (3 s of patience, not 30)
    count = flaky_kernel(tmp_path, "hang,die", monkeypatch)
    monkeypatch.setattr(engine, "STARTUP_PATIENCE", 3.0)
    mark = secrets.token_hex(4)
    monkeypatch.setenv(MARK, mark)
    notebook = write_notebook(tmp_path / "nb.ipynb", ["%load_ext jupyter_tracker",
                                                      "%%track started\nx = 1"])

    # When an execution runs it
    result = engine.execute(engine.Execution(str(notebook), str(tmp_path / "out.ipynb"), str(tmp_path),
                                             str(tracker_db), engine.new_session_id(), kernel_name="flaky"))

    # Then the third kernel ran the notebook, the first two are gone, and the run was recorded once
    assert result.ok, result.error.text()
    assert len(count.read_text()) == 3
    assert marked(mark) == []
    assert list(scratch.iterdir()) == []
    assert list(jupyter_tracker.runs(db=str(tracker_db)).name) == ["started"]


def test_a_kernel_that_never_starts_fails_with_its_own_words(tmp_path, tracker_db, scratch, monkeypatch):
    # Given a kernel command that always dies with a message
    count = flaky_kernel(tmp_path, "die,die,die,die", monkeypatch)
    mark = secrets.token_hex(4)
    notebook = write_notebook(tmp_path / "nb.ipynb", ["x = 1"])

    # When a batch runs it
    done, seconds = run_batch(str(notebook), "--kernel", "flaky", "-o", str(tmp_path / "out"),
                              env={**cli_env(tracker_db, mark, scratch), "JUPYTER_PATH": str(tmp_path / "jupyter")})

    # Then it was tried three times, and the failure says what the kernel said, in one line
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(count.read_text()) == 3
    assert "the kernel did not start: Kernel died before replying to kernel_info; " \
           "kernel said: address already in use (start 3)" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert marked(mark) == []
