"""The charts of jupyter_tracker.plots, drawn from runs in a real store and rendered to PNG."""

from __future__ import annotations

import io
import math

import matplotlib
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


# ------------------------------------------------------------------ parallel coordinates
def beside(ax, x: float) -> dict[str, float]:
    """The value labels written beside the parallel axis at ``x``, and their heights."""
    return {t.get_text(): t.get_position()[1] for t in ax.texts if t.get_position()[0] == pytest.approx(x + 0.03)}


def test_plot_parallel_draws_one_line_per_run_through_the_varying_params_to_the_metric(grid):
    # When: the default params, those that vary (opt is "adam" everywhere)
    fig = jt.plot_parallel("acc", experiment="grid")
    # Then: axes depth, lr, then the metric; the NaN run is counted, not drawn
    ax, colorbar = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["depth", "lr", "acc"]
    assert colorbar.get_ylabel() == "acc"
    lines = ax.get_lines()
    assert len(lines) == 5 and "1 run without a finite acc not drawn" in notes(fig)
    # each line crosses the axes at its values scaled min-max, the best run drawn last
    runs = jt.runs(experiment="grid").dropna(subset=["metrics.acc"]).sort_values("metrics.acc", kind="stable")
    for line, (_, run) in zip(lines, runs.iterrows()):
        assert line.get_label() == run["run_id"][:8]
        expected = [(run["params.depth"] - 2) / 2, (run["params.lr"] - 0.1) / 0.1, (run["metrics.acc"] - 0.6) / 0.3]
        np.testing.assert_allclose(line.get_ydata(), expected)
    assert lines[-1].get_color() == pytest.approx(matplotlib.colormaps["viridis"](1.0))
    # real values beside each axis, at their heights
    assert beside(ax, 0) == pytest.approx({"2": 0, "2.5": 0.25, "3": 0.5, "3.5": 0.75, "4": 1})
    assert beside(ax, 2) == pytest.approx({"0.6": 0, "0.7": 1 / 3, "0.8": 2 / 3, "0.9": 1})
    assert_renders(fig)


def test_plot_parallel_puts_wide_params_on_a_log_axis_text_on_categories_and_unset_below(tracker_db):
    # Given: learning rates spanning 1000x, an optimizer that one run did not set, and one infinite f1
    for lr, optimizer, f1 in [(1e-4, "sgd", 0.2), (1e-3, "adam", 0.4), (1e-2, "adam", 0.8), (1e-1, None, 0.6),
                              (1e-2, "sgd", math.inf)]:
        record("fit", {"lr": lr, **({"optimizer": optimizer} if optimizer else {})}, {"f1": f1})
    # When
    fig = jt.plot_parallel("f1", params=["lr", "params.optimizer"])
    # Then
    ax = fig.axes[0]
    lr, optimizer, f1 = np.array([line.get_ydata() for line in ax.get_lines()]).T  # lines in f1 order
    np.testing.assert_allclose(lr, [0, 1 / 3, 1, 2 / 3])  # log10 scaled: 1e-4, 1e-3, 1e-1, 1e-2
    assert beside(ax, 0) == pytest.approx({"0.0001": 0, "0.001": 1 / 3, "0.01": 2 / 3, "0.1": 1})
    np.testing.assert_allclose(optimizer, [1, 0, -0.15, 0])  # adam, sgd evenly spaced; unset below the axis
    assert beside(ax, 1) == pytest.approx({"adam": 0, "sgd": 1, "(not set)": -0.15})
    np.testing.assert_allclose(f1, [0, 1 / 3, 2 / 3, 1])
    assert "1 run without a finite f1 not drawn" in notes(fig)
    assert_renders(fig)


def test_plot_parallel_with_one_run_no_runs_many_params_or_a_wrong_name(tracker_db):
    record("elsewhere", {}, {"acc": 0.1}, experiment="other")
    assert "no runs to plot in experiment 'grid'" in notes(jt.plot_parallel("acc", experiment="grid"))
    only = record("fit", {"lr": 0.1, "opt": "adam"}, {"acc": 0.5})
    fig = jt.plot_parallel("acc", runs=[only])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["lr", "opt", "acc"]  # nothing varies: all
    assert len(fig.axes[0].get_lines()) == 1
    assert_renders(fig)
    with pytest.raises(jt.UsageProblem, match="unknown param 'depth': the runs have lr, opt"):
        jt.plot_parallel("acc", params="depth")
    # Given: ten params that vary, then only eight axes of them, said so
    for i in range(2):
        record("wide", {f"p{k}": i for k in range(10)}, {"acc": i}, experiment="wide")
    fig = jt.plot_parallel("acc", experiment="wide")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [f"p{k}" for k in range(8)] + ["acc"]
    assert "8 of 10 varying params shown (choose with params=)" in notes(fig)
    assert_renders(fig)


# ------------------------------------------------------------------ scatter
def test_plot_scatter_puts_any_column_against_another_coloured_by_a_few_valued_param(grid):
    # When: lr is a param, acc a metric (bare names), coloured by depth (2 values: a legend)
    fig = jt.plot_scatter("lr", "acc", color="depth", experiment="grid")
    # Then
    ax, = fig.axes  # no colorbar
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("lr", "acc", "acc against lr by depth")
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "depth" and [t.get_text() for t in legend.get_texts()] == ["2", "4"]
    depth2, depth4 = ax.get_lines()
    assert sorted(zip(depth2.get_xdata(), depth2.get_ydata())) == [(0.1, 0.70), (0.1, 0.74), (0.2, 0.60)]
    assert sorted(zip(depth4.get_xdata(), depth4.get_ydata())) == [(0.1, 0.80), (0.2, 0.90)]
    assert "1 run not drawn (1 without a finite acc)" in notes(fig)
    # five points, each named by its short run id
    named = {t.get_text() for t in ax.texts} & {i[:8] for i in grid}
    assert named == {i[:8] for i in grid[:5]}
    assert_renders(fig)


def test_plot_scatter_places_text_on_categories_and_colours_many_numbers_with_a_colorbar(tracker_db):
    # Given: 25 runs, a text param (one run without it) and a seed of 25 values
    for seed in range(25):
        record("fit", {"seed": seed, **({"model": ["rf", "svm"][seed % 2]} if seed != 24 else {})},
               {"acc": seed / 100})
    # When
    fig = jt.plot_scatter("model", "metrics.acc", color="params.seed")
    # Then
    ax, colorbar = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["rf", "svm"]
    assert colorbar.get_ylabel() == "seed"
    points, = ax.collections
    np.testing.assert_allclose(points.get_offsets(), [(seed % 2, seed / 100) for seed in range(24)])
    np.testing.assert_allclose(points.get_array(), range(24))
    assert "1 run not drawn (1 without model)" in notes(fig)
    assert not [t for t in ax.texts if len(t.get_text()) == 8]  # 24 points: too many to name
    assert_renders(fig)


def test_plot_scatter_resolves_a_bare_name_as_a_metric_first_and_knows_duration_and_start(tracker_db):
    # Given: a metric and a param that share the name "depth"
    first = record("a", {"depth": 3}, {"depth": 0.25})
    record("b", {"depth": 5}, {"depth": 0.5})
    # When
    fig = jt.plot_scatter("depth", "params.depth")
    # Then
    line, = fig.axes[0].get_lines()
    assert list(line.get_xdata()) == [0.25, 0.5] and list(line.get_ydata()) == [3, 5]
    fig = jt.plot_scatter("start", "duration", runs=[first])
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("start (UTC)", "duration (s)")
    assert_renders(fig)
    with pytest.raises(jt.UsageProblem, match="unknown column 'acc': the runs have metrics depth, params depth"):
        jt.plot_scatter("acc", "depth")
    assert "no runs to plot in experiment 'none'" in notes(jt.plot_scatter("depth", "depth", experiment="none"))


# ------------------------------------------------------------------ series by group
def test_plot_series_by_a_param_draws_each_groups_mean_and_min_max_band(tracker_db):
    # Given: two groups of repeats; in lr=0.1 one run logs one step more, one has a NaN and one an inf point
    logged = {
        0.1: [[(0, 1.0), (1, 0.8), (2, 0.6)], [(0, 1.2), (1, math.nan), (2, 0.4), (3, 0.3)],
              [(0, 0.9), (1, 0.7), (2, math.inf)]],
        0.2: [[(0, 2.0), (1, 1.5), (2, 1.0), (3, 0.5)], [(0, 2.2), (1, 1.7), (2, 1.2), (3, 0.7)]],
    }
    ids = [record("fit", {"lr": lr, "seed": seed}, {}, series={"loss": points})
           for lr, runs in logged.items() for seed, points in enumerate(runs)]
    # When
    fig = jt.plot_series(ids, "loss", by="lr")
    # Then: one mean line and one band per group, named with the group's size
    ax, = fig.axes
    assert ax.get_title() == "loss by step: mean and min–max per lr"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lr=0.1 (n=3)", "lr=0.2 (n=2)"]
    lines, bands = ax.get_lines(), ax.collections
    assert len(lines) == len(bands) == 2
    for line, band, runs in zip(lines, bands, logged.values()):
        at_step: dict[int, list[float]] = {}
        for points in runs:
            for step, value in points:
                if math.isfinite(value):
                    at_step.setdefault(step, []).append(value)
        steps = sorted(at_step)
        np.testing.assert_allclose(line.get_xdata(), steps)
        np.testing.assert_allclose(line.get_ydata(), [np.mean(at_step[s]) for s in steps])
        vertices = band.get_paths()[0].vertices
        for step in steps:
            for edge in (np.min(at_step[step]), np.max(at_step[step])):
                assert np.isclose(vertices, (step, edge)).all(axis=1).any(), (step, edge)
        assert vertices[:, 1].min() == pytest.approx(min(map(min, at_step.values())))
        assert vertices[:, 1].max() == pytest.approx(max(map(max, at_step.values())))
    assert "2 points left out of the means and bands (1 NaN, 1 ∞)" in notes(fig)
    assert_renders(fig)
    # by several params: one group per combination
    fig = jt.plot_series(ids, "loss", by=["params.lr", "seed"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == ["lr=0.1, seed=0 (n=1)",
                                                                               "lr=0.1, seed=1 (n=1)"]
    with pytest.raises(jt.UsageProblem, match="unknown param 'depth': the runs have lr, seed"):
        jt.plot_series(ids, "loss", by=["depth"])


# ------------------------------------------------------------------ the new charts together
def test_new_charts_draw_long_markup_and_dollar_names_literally_and_short(tracker_db):
    # Given: a param and a metric named with markup, matplotlib math text and 5,000 more characters
    param = "<script>alert(1)</script>$\\undefinedcommand$" + "p" * 5000
    metric = "$\\alpha$<b>" + "m" * 5000
    ids = [record("fit", {param: value, "kind": f"<i>${i}$</i>"}, {}, series={metric: [(0, i), (1, i / 2)]})
           for i, value in enumerate([0.1, 0.2, 0.3])]
    figs = [jt.plot_parallel(metric), jt.plot_scatter(param, metric, color="kind"),
            jt.plot_series(ids, metric, by=param)]
    for fig in figs:
        ax = fig.axes[0]
        texts = [ax.get_title(), ax.get_ylabel(), ax.get_xlabel(), *(t.get_text() for t in ax.get_xticklabels()),
                 *(t.get_text() for t in ax.texts)]
        if ax.get_legend():
            texts += [ax.get_legend().get_title().get_text(), *(t.get_text() for t in ax.get_legend().get_texts())]
        assert max(len(t) for t in texts) < 120, max(texts, key=len)[:200]
        assert any("<script>alert(1)" in t for t in texts)  # markup is drawn as text
        assert any("\\$\\alpha\\$<b>" in t for t in texts)  # and '$' as a dollar, not math text
        assert_renders(fig)  # unescaped, \undefinedcommand would fail to draw


def test_new_charts_draw_into_a_given_axes_and_are_exported(grid):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    outer = Figure()
    left, right = outer.subplots(1, 2)
    assert jt.plot_parallel("acc", ax=left) is outer
    assert jt.plot_scatter("lr", "acc", ax=right) is outer
    assert plt.get_fignums() == before
    assert {"plot_parallel", "plot_scatter"} <= set(jt.__all__) and "plot_parallel" in dir(jt)
