"""``%track`` line magics in a real kernel, and their errors as plain UsageError lines."""

from __future__ import annotations
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
