"""The ipywidgets panel, driven the way a user drives it: set filters, pick rows, flip pages.

Widgets are real ipywidgets objects over a real store; the last test displays the panel in
a real kernel and checks that it follows runs recorded there.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import textwrap
import time

import pytest

import jupyter_tracker as jt
from jupyter_tracker import api
from jupyter_tracker.capture.recorder import Recorder
from jupyter_tracker.views.panel import ALL, RunsPanel

pytestmark = pytest.mark.slow  # a real kernel and the panel

PNG = b"\x89PNG\r\n\x1a\n"


def record(name: str, experiment: str, params: dict, metrics: dict, loss: list[float] = ()) -> str:
    with jt.start_run(name, experiment=experiment) as run:
        jt.log_params(params)
        for step, value in enumerate(loss):
            jt.log_metric("loss", value, step=step)
        jt.log_metrics(metrics)
    return run.run_id


@pytest.fixture
def runs(tracker_db) -> dict[str, str]:
    """Five runs in two experiments, oldest first: three 'train' and one 'eval' in churn, one 'fit' in other."""
    return {
        "rf50": record("train", "churn", {"n_estimators": 50, "model": "rf"}, {"acc": 0.81}, [0.9, 0.5, 0.4]),
        "rf200": record("train", "churn", {"n_estimators": 200, "model": "rf"}, {"acc": 0.86}, [0.8, 0.4, 0.3]),
        "svm": record("train", "churn", {"n_estimators": 10, "model": "svm"}, {"acc": 0.74}, [1.0, 0.9]),
        "eval": record("eval", "churn", {"model": "rf"}, {"acc": 0.85}),
        "other": record("fit", "other", {"note": "<img src=x onerror=alert(1)>"}, {"r2": 0.3}),
    }


@pytest.fixture
def panel(runs):
    shown = jt.panel()
    yield shown
    shown.close()


def image(widget) -> bytes:
    return bytes(widget.value)  # ipywidgets keeps bytes as a memoryview


def shown_ids(panel: RunsPanel) -> list[str]:
    return [run_id for _, run_id in panel.picker.options]


def test_panel_shows_every_run_newest_first_in_a_table(panel, runs):
    assert shown_ids(panel) == [runs[k] for k in ("other", "eval", "svm", "rf200", "rf50")]
    assert "5 runs" in panel.title.value
    assert panel.page_label.value == "page 1 of 1 · runs 1–5 of 5"
    table = panel.table.value
    for column in ("experiment", "name", "status", "params.n_estimators", "metrics.acc", "metrics.r2"):
        assert f">{column}</th>" in table
    assert table.index(runs["other"][:8]) < table.index(runs["rf50"][:8])
    assert "text-align:right'>200</td>" in table  # a nullable-int param column shows plain numbers
    assert "no runs selected" in panel.selection_label.value


def test_text_experiment_and_name_filters_narrow_the_table(panel, runs):
    # When: a word that appears in a param value
    panel.text_filter.value = "SVM"
    # Then
    assert shown_ids(panel) == [runs["svm"]]
    assert "1 match" in panel.title.value
    # When: words must all match, anywhere in the row
    panel.text_filter.value = "rf train"
    assert shown_ids(panel) == [runs["rf200"], runs["rf50"]]
    # When: a param by name and value, or just by name
    panel.text_filter.value = "n_estimators=200"
    assert shown_ids(panel) == [runs["rf200"]]
    panel.text_filter.value = "note="
    assert shown_ids(panel) == [runs["other"]]
    # When: by experiment, then by name within it
    panel.text_filter.value = ""
    panel.experiment_filter.value = "churn"
    assert set(shown_ids(panel)) == {runs[k] for k in ("rf50", "rf200", "svm", "eval")}
    assert [value for _, value in panel.name_filter.options] == [ALL, "eval", "train"]
    panel.name_filter.value = "eval"
    assert shown_ids(panel) == [runs["eval"]]
    # When: a run id prefix
    panel.experiment_filter.value = ALL
    panel.name_filter.value = ALL
    panel.text_filter.value = runs["other"][:6]
    assert shown_ids(panel) == [runs["other"]]
    panel.text_filter.value = "no such thing"
    assert shown_ids(panel) == [] and "no runs" in panel.table.value


def test_sorting_by_any_column_both_ways_keeps_missing_values_last(panel, runs):
    panel.sort_by.value = "metrics.acc"
    assert shown_ids(panel) == [runs[k] for k in ("rf200", "eval", "rf50", "svm", "other")]
    panel.descending.value = False
    assert shown_ids(panel) == [runs[k] for k in ("svm", "rf50", "eval", "rf200", "other")]
    panel.sort_by.value = "params.n_estimators"
    assert shown_ids(panel)[:3] == [runs["svm"], runs["rf50"], runs["rf200"]]
    panel.sort_by.value = "name"
    assert shown_ids(panel) == [runs[k] for k in ("eval", "other", "rf50", "rf200", "svm")]
    assert {"run_id", "start", "duration", "params.model", "metrics.r2"} <= set(panel.sort_by.options)


def test_paging_through_thousands_of_runs(tracker_db):
    # Given: 2,000 runs, written through the recorder a tracked cell uses
    store = api.open_store()
    for i in range(2000):
        recorder = Recorder(store, f"fit{i % 4}", "big", source="script")
        recorder.log_params({"i": i})
        recorder.log_metrics({"acc": i / 2000})
        recorder.finish("finished")
    panel = jt.panel(experiment="big", page_size=50)
    try:
        # Then: the first page holds the newest 50
        assert panel.page_label.value == "page 1 of 40 · runs 1–50 of 2000"
        assert len(panel.picker.options) == 50 and panel.previous_button.disabled
        first_page = shown_ids(panel)
        # When: next page, a bigger page, the last page
        panel.next_button.click()
        assert panel.page_label.value == "page 2 of 40 · runs 51–100 of 2000"
        assert not set(shown_ids(panel)) & set(first_page)
        assert ">51</td>" in panel.table.value
        panel.go_to_page(39)
        assert panel.page_label.value == "page 40 of 40 · runs 1951–2000 of 2000" and panel.next_button.disabled
        panel.page_size.value = 200
        assert panel.page_label.value == "page 1 of 10 · runs 1–200 of 2000"
        # When: a filter goes back to its first page
        panel.next_page()
        panel.name_filter.value = "fit3"
        assert panel.page_label.value == "page 1 of 3 · runs 1–200 of 500"
        # When: sorted by a metric, the best run comes first
        panel.sort_by.value = "metrics.acc"
        assert panel.view["metrics.acc"].iloc[0] == pytest.approx(1999 / 2000)
    finally:
        panel.close()


def test_selecting_runs_shows_their_comparison_with_differences_highlighted(panel, runs):
    # When: one run is picked in the table's row picker
    panel.picker.value = (runs["rf50"],)
    # Then: its record
    assert panel.selected == [runs["rf50"]]
    assert "jupyter-tracker-run" in panel.comparison.value and runs["rf50"] in panel.comparison.value
    assert "✓ " in panel.table.value and "background:#e3f2fd" in panel.table.value
    # When: a second run is added (ctrl-click)
    panel.picker.value = (runs["rf200"], runs["rf50"])
    # Then: the two side by side, differing rows highlighted
    html = panel.comparison.value
    assert "jupyter-tracker-compare" in html
    assert html.count('style="background:#fff3cd"><th style=\'text-align:left\'>n_estimators') == 1
    assert "+0.05" in html  # the acc delta to the first run
    assert panel.selected == [runs["rf50"], runs["rf200"]]
    assert "2 selected" in panel.title.value
    # When: the selection goes off the page through a filter, and back
    panel.text_filter.value = "svm"
    assert panel.picker.value == () and panel.selected == [runs["rf50"], runs["rf200"]]
    panel.picker.value = (runs["svm"],)
    panel.text_filter.value = ""
    assert panel.selected == [runs["rf50"], runs["rf200"], runs["svm"]]
    assert set(panel.picker.value) == {runs["rf50"], runs["rf200"], runs["svm"]}
    # When: selected from code by prefix, then cleared
    panel.select(runs["eval"][:6], runs["other"][:6])
    assert panel.selected == [runs["eval"], runs["other"]]
    panel.clear_button.click()
    assert panel.selected == [] and "Select runs" in panel.comparison.value
    with pytest.raises(jt.RunNotFound):
        panel.select("zzzzzz")


def test_charts_show_final_values_and_step_series_of_the_chosen_metric(panel, runs):
    # Given: the charts tab is open, nothing selected
    panel.details.selected_index = 1
    assert panel.metric.options == ("acc", "loss", "r2")
    assert "final acc</b> of the 5 runs matching the filters" in panel.metric_caption.value
    assert image(panel.metric_chart).startswith(PNG)
    assert image(panel.series_chart) == b"" and "select runs" in panel.series_caption.value
    # When: two runs are selected and the metric is loss
    panel.select(runs["rf50"], runs["svm"])
    panel.metric.value = "loss"
    # Then
    assert "final loss</b> of the 2 selected runs" in panel.metric_caption.value
    assert image(panel.series_chart).startswith(PNG) and len(image(panel.series_chart)) > 2000
    assert "loss by step</b> for the 2 selected runs" in panel.series_caption.value
    # When: against a param
    before = image(panel.metric_chart)
    panel.x_axis.value = "n_estimators"
    assert image(panel.metric_chart).startswith(PNG) and image(panel.metric_chart) != before
    # When: a run without any loss series is selected alone
    panel.select(runs["other"])
    assert "logged metric &#x27;loss&#x27;" in panel.series_caption.value and image(panel.series_chart) == b""


def test_groups_tab_groups_the_filtered_runs_and_picks_a_groups_runs(panel, runs):
    # Given: the panel filtered to churn, its groups tab open
    panel.experiment_filter.value = "churn"
    panel.details.selected_index = 2
    assert "choose params to group" in panel.groups_caption.value
    assert panel.group_by.options == ("model", "n_estimators", "note")
    # When: the user groups by model
    panel.group_by.value = ("model",)
    # Then: one row per model among churn's four runs, with acc's statistics over each group
    groups = panel.groups
    assert list(groups["model"]) == ["rf", "svm"] and list(groups["runs"]) == [3, 1]
    rf = groups.iloc[0]
    assert rf["acc.mean"] == pytest.approx((0.81 + 0.86 + 0.85) / 3)
    assert rf["acc.std"] == pytest.approx(statistics.stdev([0.81, 0.86, 0.85]))
    assert (rf["acc.min"], rf["acc.max"], rf["acc.count"]) == (0.81, 0.86, 3)
    assert "2 groups</b> of the 4 runs matching the filters, by model" in panel.groups_caption.value
    assert "acc.mean" in panel.groups_table.value
    assert [label for label, _ in panel.group_picker.options] == ["none", "model=rf (3 runs)", "model=svm (1 run)"]
    # When: the user picks the rf group
    panel.group_picker.value = 0
    # Then: its three runs are selected and compared
    assert sorted(panel.selected) == sorted([runs["rf50"], runs["rf200"], runs["eval"]])
    assert "3 selected" in panel.title.value
    # And: the step chart draws a mean line and min-max band by model
    panel.details.selected_index = 1
    panel.metric.value = "loss"
    assert "mean and min–max band by model" in panel.series_caption.value
    assert image(panel.series_chart).startswith(PNG)
    # When: the filter narrows the runs, the groups follow
    panel.details.selected_index = 2
    panel.text_filter.value = "svm"
    assert list(panel.groups["model"]) == ["svm"]


def test_groups_of_a_missing_and_a_hostile_param_value(panel, runs):
    # Given: every run, grouped by a param only one run has, holding HTML
    panel.details.selected_index = 2
    panel.group_by.value = ("note",)
    # Then: the runs without it are one group, and the value shows as text
    labels = [label for label, _ in panel.group_picker.options]
    assert sorted(labels[1:]) == sorted(["note=(none) (4 runs)", "note=<img src=x onerror=alert(1)> (1 run)"])
    assert "&lt;img src=x onerror=alert(1)&gt;" in panel.groups_table.value and "<img" not in panel.groups_table.value
    # When: the group without the param is picked, its four runs are selected
    panel.group_picker.value = labels.index("note=(none) (4 runs)") - 1
    assert sorted(panel.selected) == sorted(runs[k] for k in ("rf50", "rf200", "svm", "eval"))


def test_values_holding_html_show_as_text(panel, runs):
    panel.select(runs["other"], runs["rf50"])
    for html in (panel.table.value, panel.comparison.value):
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "<img" not in html
    panel.select(runs["other"])
    assert "<img" not in panel.comparison.value


def test_panel_refreshes_itself_when_this_process_records_a_run(panel, runs):
    # Given: a run selected
    panel.select(runs["rf50"])
    # When: a run is recorded in this process
    new = record("train", "churn", {"n_estimators": 400}, {"acc": 0.9})
    # Then: it is on the panel, at the top, and the selection stayed
    assert shown_ids(panel)[0] == new and "6 runs" in panel.title.value
    assert panel.selected == [runs["rf50"]]
    assert panel.view["params.n_estimators"].iloc[0] == 400
    # When: the panel is closed, it stops listening
    panel.close()
    record("train", "churn", {}, {"acc": 0.1})
    assert len(panel.frame) == 6


def test_refresh_button_picks_up_runs_recorded_by_other_processes(panel, tmp_path, tracker_db):
    script = tmp_path / "elsewhere.py"
    script.write_text(textwrap.dedent("""
        import jupyter_tracker as jt
        with jt.start_run("batch-run", experiment="churn"):
            jt.log_metric("acc", 0.5)
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    assert "batch-run" not in set(panel.frame["name"])
    panel.refresh_button.click()
    assert "batch-run" in set(panel.frame["name"]) and "6 runs" in panel.title.value


def test_panel_without_a_store_says_so_and_fills_in_later(tracker_db):
    panel = jt.panel(experiment="churn")
    try:
        assert "no store at" in panel.title.value and "no runs" in panel.table.value
        assert panel.experiment_filter.value == "churn"
        panel.details.selected_index = 1
        assert "no metrics recorded yet" in panel.metric_caption.value
        record("train", "churn", {}, {"acc": 0.5})
        assert "no store" not in panel.title.value and len(panel.view) == 1
    finally:
        panel.close()


def test_a_failing_run_listener_is_a_warning_and_the_run_is_still_recorded(tracker_db, capsys):
    def broken(run):
        raise RuntimeError("listener exploded")

    stop = jt.on_run_finished(broken)
    try:
        run_id = record("train", "churn", {}, {"acc": 0.5})
    finally:
        stop()
    assert jt.get_run(run_id).status == "finished"
    assert "jupyter_tracker warning: run listener" in capsys.readouterr().err


def test_panel_displays_in_a_real_kernel_and_follows_its_runs(kernel):
    # Given: a run, then the panel from the magic
    kernel.run("%%track fit --experiment exp\nalpha = 0.1\nacc = 0.8")
    shown = kernel.run("%track panel --experiment exp")
    # Then: a widget view, no error, nothing on stderr
    assert any("application/vnd.jupyter.widget-view+json" in d for d in shown.displays)
    assert shown.error is None and shown.stderr == ""
    kernel.run("import jupyter_tracker\np = _")
    assert kernel.value("len(p.view)") == 1
    # When: another tracked cell runs
    kernel.run("%%track fit --experiment exp\nalpha = 0.2\nacc = 0.9")
    # Then: the panel reloaded after that cell, by itself
    assert kernel.value("len(p.view)") == 2
    assert "2 runs" in kernel.value("p.title.value")
    # When: both runs are selected and the charts tab opened
    kernel.run("p.select(*p.view.run_id)\np.details.selected_index = 1")
    assert "style=\"background:#fff3cd\"><th style='text-align:left'>alpha" in kernel.value("p.comparison.value")
    assert kernel.value("bytes(p.metric_chart.value[:4])") == PNG[:4]
    # And: the panel from the API displays too, and a bad option is one usage line
    again = kernel.run("jupyter_tracker.panel()")
    assert any("application/vnd.jupyter.widget-view+json" in d for d in again.displays)
    bad = kernel.run("%track panel --colour red", allow_error=True)
    assert bad.stderr.strip().startswith("UsageError:") and "Traceback" not in bad.stderr


LIVE_SCRIPT = textwrap.dedent("""
    import sys
    import jupyter_tracker as jt
    with jt.start_run("long-fit", experiment="churn"):
        for step in range(40):
            jt.log_metric("loss", 1 / (step + 1), step=step)
        print("logged", flush=True)
        sys.stdin.readline()  # runs until the test lets it finish
        jt.log_metric("loss", 0.001, step=40)
""")


def test_refresh_shows_a_running_runs_latest_points(panel, tmp_path, tracker_db):
    # Given a script in another process that has logged 40 points and is still running
    script = tmp_path / "long_fit.py"
    script.write_text(LIVE_SCRIPT)
    writer = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline().strip() == "logged"
        deadline = time.monotonic() + 10
        while True:  # the live writer flushes within about a second
            panel.refresh_button.click()
            row = panel.frame[panel.frame["name"] == "long-fit"]
            if len(row) and row["metrics.loss"].iloc[0] == pytest.approx(1 / 40):
                break
            assert time.monotonic() < deadline, "the running run's points never reached the panel"
            time.sleep(0.2)
        # Then the panel shows it running, with its latest value, and its series so far
        assert row["status"].iloc[0] == "running"
        run_id = row["run_id"].iloc[0]
        panel.select(run_id)
        panel.details.selected_index = 1
        panel.metric.value = "loss"
        assert "loss by step</b> for" in panel.series_caption.value
        assert image(panel.series_chart).startswith(PNG)
        # When it ends, a refresh shows it finished with its last point
        writer.stdin.write("done\n")
        writer.stdin.flush()
        assert writer.wait(timeout=60) == 0
        panel.refresh_button.click()
        row = panel.frame[panel.frame["run_id"] == run_id]
        assert row["status"].iloc[0] == "finished" and row["metrics.loss"].iloc[0] == 0.001
        assert api.get_run(run_id).metric_steps["loss"] == 41
    finally:
        writer.kill()
        writer.wait()
