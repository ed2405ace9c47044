"""``%track`` line magics in a real kernel, and their errors as plain UsageError lines."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # a real kernel per test


def usage_error(out) -> str:
    """IPython shows a UsageError as one stderr line, with no traceback and no error reply."""
    lines = out.stderr.strip().splitlines()
    assert out.error is None and "Traceback" not in out.stderr
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_runs_show_and_compare_display_tables(kernel):
    kernel.run("%%track fit --experiment exp --tag model=rf\nalpha = 0.1\nacc = 0.8")
    kernel.run("%%track fit --experiment exp\nalpha = 0.2\nacc = 0.9")
    kernel.run("%%track other\nbeta = 1")
    runs = kernel.run("%track runs --experiment exp")
    assert "params.alpha" in runs.text() and "<table" in runs.html()
    ids = kernel.value("list(__import__('jupyter_tracker').runs(experiment='exp')['run_id'])")
    assert len(ids) == 2
    last = kernel.run("%track runs --last 1")
    assert "other" in last.text() and "fit" not in last.text()
    shown = kernel.run(f"%track show {ids[0][:6]}")
    assert ids[0] in shown.text() and "alpha" in shown.html() and "model" in shown.text()
    compared = kernel.run(f"%track compare {ids[0][:6]} {ids[1][:6]}")
    assert "* alpha" in compared.text()
    assert "+0.1" in compared.text()
    assert "background:#fff3cd" in compared.html()


def test_seed_seeds_every_imported_generator(kernel):
    kernel.run("import random, numpy as np")
    out = kernel.run("%track seed 5")
    assert "python, numpy" in out.stdout
    first = kernel.value("(random.random(), float(np.random.rand()))")
    kernel.run("%track seed 5")
    assert kernel.value("(random.random(), float(np.random.rand()))") == first


def test_status_reports_store_and_last_run(kernel, tracker_db):
    before = kernel.run("%track status").stdout
    assert "tracking: on" in before and str(tracker_db) in before and "last run: none" in before
    kernel.run("%%track fit\nx = 1")
    kernel.run("%track off")
    after = kernel.run("%track status").stdout
    assert "tracking: off" in after and "runs: 1" in after and "fit (finished)" in after


def test_bad_input_gives_one_usage_error_line(kernel):
    kernel.run("%%track fit\nx = 1")
    cases = {
        "%track show ffffffff": "no run matches 'ffffffff'",
        "%track show": "the following arguments are required: run",
        "%track compare abc": "",
        "%track frobnicate": "unknown %track subcommand 'frobnicate'",
        "%track": "%track needs a subcommand",
        "%track seed notanumber": "invalid int value",
        "%track runs --last x": "invalid int value",
    }
    for line, message in cases.items():
        out = kernel.run(line, allow_error=True)
        assert usage_error(out).startswith("UsageError: "), line
        assert message in usage_error(out), (line, out.stderr)
    bad_tag = kernel.run("%%track fit --tag nonsense\nx = 1\nx = 2", allow_error=True)
    assert "KEY=VALUE" in usage_error(bad_tag)
    assert kernel.run("print(x)").stdout.strip() == "1"  # the cell did not run with bad options


def test_ambiguous_prefix_names_the_candidates(kernel, tracker_db):
    from jupyter_tracker.store import Store

    # Given two runs whose ids share the prefix 'abc' (chosen, so the test never depends on chance)
    store = Store(tracker_db)
    ids = ["abc0" + "0" * 28, "abc1" + "0" * 28]
    for run_id in ids:
        store.begin_run(run_id, "default", "chosen", "script", 1_700_000_000.0)
    store.close()
    # When a magic is given that prefix
    message = usage_error(kernel.run("%track show abc", allow_error=True))
    # Then one usage error names both candidates
    assert "run id prefix 'abc' is ambiguous" in message
    assert ids[0][:12] in message and ids[1][:12] in message


def test_help_lists_every_subcommand(kernel):
    help_text = kernel.run("print(get_ipython().find_magic('track').__doc__)").stdout
    for sub in ("runs", "show", "compare", "seed", "off", "on", "status", "%%track"):
        assert sub in help_text


# ------------------------------------------------------------ live summary line (issue 12)
LONG_CELL = """%%track long
import time
for step in range(45):
    log_metric("loss", 1 / (step + 1), step=step)
    if step % 10 == 0:
        log_metric("acc", step / 100)
    time.sleep(0.1)
"""


def summary_displays(out) -> list[dict]:
    return [d for d in out.displays if "[jupyter_tracker]" in d.get("text/plain", "")]


def test_a_long_cell_shows_its_summary_line_updating_in_place_then_its_summary(kernel):
    # Given a tracked cell that logs for about 4.5 s
    kernel.run("from jupyter_tracker import log_metric")
    # When it runs
    out = kernel.run(LONG_CELL)
    # Then its summary line was updated while it ran: at most once a second, elapsed time and the latest
    # value and step of each metric, each update further on than the one before
    live = [(at, bundle["text/plain"]) for at, bundle in out.updates if "running" in bundle["text/plain"]]
    assert 2 <= len(live) <= 4, out.updates
    gaps = [b[0] - a[0] for a, b in zip(live, live[1:])]
    assert all(gap > 0.8 for gap in gaps), gaps
    steps = [int(text.split("loss=")[1].split("@")[1].split()[0]) for _, text in live]
    assert steps == sorted(steps) and steps[0] >= 15 and steps[-1] < 45, live
    assert all(" | running | " in text and "acc=" in text for _, text in live)
    assert all(text.split(" | ")[2].endswith("s") for _, text in live)  # elapsed, e.g. 3.0s
    assert '<span class="jt-status" style="color:#1565c0' in out.updates[0][1]["text/html"]
    # And it is one line: the same display now holds the final summary; no new line per update
    (summary,) = summary_displays(out)
    assert "| finished |" in summary["text/plain"] and "loss=0.0222" in summary["text/plain"]
    assert out.display_ids[out.displays.index(summary)] is not None


def test_a_short_cell_shows_only_its_summary(kernel):
    out = kernel.run("%%track quick\nx = 1")
    assert out.updates == [] and len(summary_displays(out)) == 1 and out.display_ids == [None]


def test_a_cell_that_clears_its_output_still_ends_with_its_summary(kernel):
    # Given a training loop that redraws its output (clear_output(wait=True)), as live-plotting loops do
    kernel.run("from jupyter_tracker import log_metric\nfrom IPython.display import clear_output")
    out = kernel.run("%%track redraw\nimport time\nfor step in range(30):\n"
                     "    log_metric('loss', 1 / (step + 1), step=step)\n"
                     "    clear_output(wait=True)\n    print('epoch', step)\n    time.sleep(0.1)")
    # Then what is left in the cell, once it ends, is the final summary
    assert out.clears == 30
    (summary,) = summary_displays(out)
    assert "| finished |" in summary["text/plain"]


def test_a_failing_long_cell_ends_with_its_failed_summary_and_the_users_error(kernel):
    out = kernel.run("%%track boom\nimport time\nfrom jupyter_tracker import log_metric\n"
                     "log_metric('loss', 0.5)\ntime.sleep(3)\nraise ValueError('boom')", allow_error=True)
    assert out.error["ename"] == "ValueError"
    (summary,) = summary_displays(out)
    assert "| failed |" in summary["text/plain"]
    assert out.display_ids[out.displays.index(summary)] is not None  # the live line, not a new display


def test_in_a_terminal_a_long_cell_prints_only_its_summary(tmp_path, tracker_db):
    # Given IPython in a terminal (no display), running a tracked cell of about 3 s
    script = tmp_path / "terminal.py"
    script.write_text(textwrap.dedent("""
        from IPython.terminal.interactiveshell import TerminalInteractiveShell
        shell = TerminalInteractiveShell.instance()
        shell.run_cell("%load_ext jupyter_tracker")
        shell.run_cell("from jupyter_tracker import log_metric")
        shell.run_cell("%%track long\\nimport time\\nfor step in range(30):\\n"
                       "    log_metric('loss', 1 / (step + 1), step=step)\\n    time.sleep(0.1)")
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db)})
    # Then the terminal shows one summary line, the final one
    lines = [line for line in done.stdout.splitlines() if "[jupyter_tracker]" in line]
    assert len(lines) == 1 and "| finished |" in lines[0], done.stdout + done.stderr
    assert "running" not in done.stdout
