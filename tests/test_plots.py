"""The charts of jupyter_tracker.plots, drawn from runs in a real store and rendered to PNG."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import jupyter_tracker as jt
from jupyter_tracker.views import plot_metric, plot_series, plot_spread, spread_summary


def record(name: str, params: dict, metrics: dict, series: dict | None = None, experiment: str = "grid") -> str:
    with jt.start_run(name, experiment=experiment) as run:
        jt.log_params(params)
        for metric, values in (series or {}).items():
            for step, value in values:
                jt.log_metric(metric, value, step=step)
        jt.log_metrics(metrics)
    return run.run_id


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def assert_renders(fig: Figure) -> None:
    data = png(fig)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000


def notes(fig: Figure) -> str:
    return " | ".join(text.get_text() for ax in fig.axes for text in ax.texts)


@pytest.fixture
def grid(tracker_db):
    """Six runs of a 2x2 grid with repeats; one run has a NaN accuracy."""
    ids = []
    for lr, depth, acc in [(0.1, 2, 0.70), (0.1, 2, 0.74), (0.1, 4, 0.80), (0.2, 2, 0.60), (0.2, 4, 0.90),
                           (0.2, 4, math.nan)]:
        ids.append(record("fit", {"lr": lr, "depth": depth, "opt": "adam"}, {"acc": acc},
                          series={"loss": [(step, 1.0 / (step + 1 + depth)) for step in range(5)]}))
    return ids


def test_plot_metric_draws_each_runs_final_value_in_run_order(grid):
    # When
    fig = plot_metric("acc", experiment="grid")
    # Then
    assert isinstance(fig, Figure)
    ax, = fig.axes
    assert ax.get_xlabel() == "run" and ax.get_ylabel() == "acc"
    line, = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), [0.70, 0.74, 0.80, 0.60, 0.90, np.nan])
    assert [t.get_text().split()[0] for t in ax.get_xticklabels()] == [i[:8] for i in grid]
    assert "1 run without a value of acc" in notes(fig)
    assert_renders(fig)


def test_plot_metric_against_a_numeric_param_shows_runs_and_means(grid):
    fig = plot_metric("metrics.acc", by="depth", experiment="grid")
    ax, = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("depth", "acc", "acc against depth")
    runs, means = ax.get_lines()
    assert (runs.get_label(), means.get_label()) == ("runs", "mean")
    assert sorted(runs.get_xdata()) == [2, 2, 2, 4, 4, 4]
    np.testing.assert_allclose(means.get_xdata(), [2, 4])
    np.testing.assert_allclose(means.get_ydata(), [(0.70 + 0.74 + 0.60) / 3, 0.85])
    assert_renders(fig)


def test_plot_metric_against_a_text_param_puts_each_value_in_its_own_column(tracker_db):
    # Given: a param that is text in some runs, a number in one, and missing in another
    record("a", {"model": "rf"}, {"f1": 0.5})
    record("b", {"model": "svm"}, {"f1": 0.7})
    record("c", {"model": "rf"}, {"f1": 0.6})
    record("d", {"model": 3}, {"f1": 0.1})
    record("e", {}, {"f1": 0.2})
    # When
    fig = plot_metric("f1", by="params.model")
    # Then
    ax, = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "rf", "svm", "(not set)"]
    runs, means = ax.get_lines()
    np.testing.assert_allclose(means.get_ydata(), [0.1, 0.55, 0.7, 0.2])
    assert_renders(fig)


def test_one_run_and_no_runs_are_drawn_without_errors(tracker_db):
    # Given: no runs in the experiment yet
    record("elsewhere", {}, {"acc": 0.1}, experiment="other")
    empty = plot_metric("acc", experiment="nothing")
    assert "no runs to plot in experiment 'nothing'" in notes(empty)
    assert_renders(empty)
    # Given: a single run
    only = record("fit", {"lr": 0.1}, {"acc": 0.5}, series={"loss": [(0, 1.0)]})
    for fig in (plot_metric("acc", experiment="grid"), plot_metric("acc", by="lr", experiment="grid"),
                plot_series(only, "loss"),
                plot_spread(jt.runs(experiment="grid"), "acc", by="lr")):
        assert_renders(fig)
    assert list(plot_metric("acc", runs=[only]).axes[0].get_lines()[0].get_ydata()) == [0.5]
    assert "no runs selected" in notes(plot_series([], "loss"))
    assert "one point per run: loss was not logged as a series" in notes(plot_series(only, "loss"))


def test_a_metric_that_is_never_finite_says_so(tracker_db):
    record("a", {}, {"acc": math.nan})
    record("b", {}, {"acc": math.inf})
    fig = plot_metric("acc")
    assert "no finite values of acc" in notes(fig)
    assert_renders(fig)


def test_unknown_metric_or_param_is_a_clear_error_naming_what_exists(grid):
    with pytest.raises(jt.UsageProblem, match=r"unknown metric 'acu': the runs have acc, loss"):
        plot_metric("acu")
    with pytest.raises(jt.UsageProblem, match=r"unknown param 'dpth': the runs have depth, lr, opt"):
        plot_metric("acc", by="dpth")
    with pytest.raises(jt.UsageProblem, match=r"logged metric 'acu' \(they have: acc, loss\)"):
        plot_series(grid[:2], "acu")
    with pytest.raises(jt.RunNotFound, match="no run matches 'zzzz'"):
        plot_metric("acc", runs=["zzzz"])
    with pytest.raises(jt.UsageProblem, match="unknown spread 'iqr'"):
        plot_spread(jt.runs(), "acc", spread="iqr")


def test_plot_series_draws_one_line_per_run_by_step(tracker_db):
    # Given: two runs with a loss series (one with a NaN point) and one run without it
    first = record("a", {}, {}, series={"loss": [(0, 1.0), (10, 0.5), (20, 0.25)]})
    second = record("b", {}, {}, series={"loss": [(0, 2.0), (10, math.nan), (20, 1.0)]})
    third = record("c", {}, {"acc": 0.5})
    # When
    fig = plot_series([first[:6], second[:6], third[:6]], "loss")
    # Then
    ax, = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("step", "loss", "loss by step")
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [f"{first[:8]} a", f"{second[:8]} b"]
    assert list(lines[0].get_xdata()) == [0, 10, 20] and list(lines[0].get_ydata()) == [1.0, 0.5, 0.25]
    assert math.isnan(lines[1].get_ydata()[1])  # a gap, not a zero
    assert f"no loss in {third[:8]}" in notes(fig)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"{first[:8]} a", f"{second[:8]} b"]
    assert_renders(fig)


def test_plot_series_says_how_many_points_it_could_not_draw(tracker_db):
    # Given a series holding NaN, +inf and -inf points among finite ones
    run_id = record("a", {}, {}, series={"loss": [(0, 1.0), (1, math.nan), (2, math.inf), (3, -math.inf),
                                                  (4, math.inf), (5, 0.5)]})
    # When it is drawn, then the chart says which points are not drawn, and how many
    fig = plot_series(run_id, "loss")
    assert "4 points not drawn (1 NaN, 2 ∞, 1 −∞)" in notes(fig)
    assert_renders(fig)


def test_long_and_dollar_names_stay_readable_on_charts(tracker_db):
    # Given runs named with 100,000 characters and a metric name of 5,000 that holds matplotlib's '$'
    metric = "$\\undefinedcommand$" + "m" * 5000  # math text that would fail to draw
    ids = [record("n" * 100_000, {"p": i}, {metric: 0.1 * i}, series={metric: [(0, 1.0), (1, 0.5)]})
           for i in range(2)]
    # When they are drawn, then every label is short, and the figure renders
    for fig in (plot_metric(metric), plot_series(ids, metric), plot_metric(metric, by="p")):
        ax = fig.axes[0]
        texts = [ax.get_title(), ax.get_ylabel(), ax.get_xlabel()] + [t.get_text() for t in ax.get_xticklabels()]
        if ax.get_legend():
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
        assert max(len(t) for t in texts) < 120, max(texts, key=len)[:200]
        assert_renders(fig)


def test_plot_series_without_steps_uses_the_logging_order(tracker_db):
    run_id = record("a", {}, {}, series={"loss": [(None, 0.9), (None, 0.8), (None, 0.7)]})
    fig = plot_series(run_id, "loss")
    line, = fig.axes[0].get_lines()
    assert list(line.get_xdata()) == [0, 1, 2] and fig.axes[0].get_xlabel() == "point (no step logged)"


def test_plot_spread_shows_mean_and_range_per_grid_combination(grid):
    # Given: the batch report's input, a runs table with params.* and metrics.* columns
    frame = jt.runs(experiment="grid")
    # When
    fig = plot_spread(frame, "acc", by=["params.lr", "depth"])
    # Then
    ax, = fig.axes
    assert ax.get_xlabel() == "lr, depth" and ax.get_ylabel() == "acc"
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "lr=0.1\ndepth=2\n(n=2)", "lr=0.1\ndepth=4\n(n=1)", "lr=0.2\ndepth=2\n(n=1)", "lr=0.2\ndepth=4\n(n=1)"]
    bars, = ax.containers
    means = bars.lines[0].get_ydata()
    np.testing.assert_allclose(means, [0.72, 0.80, 0.60, 0.90])
    low, high = bars.lines[2][0].get_segments()[0][:, 1]
    assert (low, high) == pytest.approx((0.70, 0.74))
    dots = ax.get_lines()[0]
    assert dots.get_label() == "runs" and len(dots.get_xdata()) == 5  # the NaN run is counted, not drawn
    assert "1 run without a finite acc" in notes(fig)
    assert_renders(fig)


def test_plot_spread_with_std_bars_and_default_grouping_by_every_param(grid):
    fig = plot_spread(jt.runs(experiment="grid"), "acc", spread="std")
    ax, = fig.axes
    assert ax.get_title() == "acc over repeats (mean ± std)"
    assert len(ax.get_xticklabels()) == 4  # depth x lr; opt is the same everywhere
    summary = spread_summary(jt.runs(experiment="grid"), "acc", by="lr")
    assert list(summary.columns) == ["params.lr", "runs", "n", "mean", "std", "min", "max"]
    assert summary["runs"].tolist() == [3, 3] and summary["n"].tolist() == [3, 2]
    assert summary["std"][0] == pytest.approx(np.std([0.70, 0.74, 0.80], ddof=1))


def test_plot_spread_takes_a_plain_frame_without_a_store(tmp_path, monkeypatch):
    # Given: a frame built by hand, and no store anywhere
    monkeypatch.setenv("JUPYTER_TRACKER_DB", str(tmp_path / "absent.db"))
    frame = pd.DataFrame({"params.seed_group": ["a", "a", "b"], "metrics.r2": [0.5, 0.7, 0.9]})
    # When
    fig = plot_spread(frame, "r2", by="seed_group")
    # Then
    bars, = fig.axes[0].containers
    np.testing.assert_allclose(bars.lines[0].get_ydata(), [0.6, 0.9])
    assert not (tmp_path / "absent.db").exists()


def test_charts_draw_into_a_given_axes_and_leave_pyplot_alone(grid):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    outer = Figure()
    left, right = outer.subplots(1, 2)
    assert plot_metric("acc", ax=left) is outer
    assert plot_series(grid[:2], "loss", ax=right) is outer
    plot_spread(jt.runs(), "acc")
    assert plt.get_fignums() == before
    assert plot_metric("acc")._repr_png_().startswith(b"\x89PNG")  # how a notebook shows it
