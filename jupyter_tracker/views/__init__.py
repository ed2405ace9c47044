"""Views: matplotlib charts of runs (``plot_*``) and the ipywidgets panel (``panel``).

The charts themselves (``views.plots``) draw frames and series handed to them and never read
the store; the functions here pick the runs (by experiment, ids or a DataFrame) through the
api and hand them over. Imported only when a chart or the panel is asked for: matplotlib and
ipywidgets load then, never at ``%load_ext`` (tests/test_import_cost.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from .. import api
from ..errors import RunNotFound, UsageProblem

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

RunsArg = Any  # None, a run id (prefix), a sequence of them, or a DataFrame shaped like runs()

__all__ = ["plot_metric", "plot_parallel", "plot_scatter", "plot_series", "plot_spread", "runs_frame",
           "spread_summary"]


def plot_metric(
    metric: str,
    by: str | None = None,
    experiment: str | None = None,
    runs: RunsArg = None,
    db: str | os.PathLike | None = None,
    ax: "Axes | None" = None,
) -> "Figure":
    """The final value of ``metric`` for each run, in run order, or against the param ``by``.

    ``metric`` is a metric name (``"acc"`` or ``"metrics.acc"``). ``by`` is a param name
    (``"n_estimators"`` or ``"params.n_estimators"``): numeric params give a scatter of the
    runs and a line through the mean at each value (on a log axis when the positive values
    span a factor of 100 or more); other params one column of points per value. ``runs``
    picks the runs: ``None`` (every run of ``experiment``, oldest first), run ids or unique
    prefixes (in that order), or a DataFrame shaped like :func:`runs` (used as is, in its
    order, no store read). Runs without a value are left out and counted on the chart.

    For example::

        plot_metric("acc", by="max_depth", experiment="churn").savefig("acc_by_depth.png")
    """
    from . import plots  # matplotlib loads with the first chart, not with the panel (~0.3 s)

    return plots.plot_metric(runs_frame(runs, experiment, db), metric, by=by, experiment=experiment, ax=ax)


def plot_series(
    run_ids: str | Sequence[str],
    metric: str,
    by: str | Sequence[str] | None = None,
    db: str | os.PathLike | None = None,
    ax: "Axes | None" = None,
) -> "Figure":
    """The step series of ``metric`` (``log_metric(name, value, step=...)``), one line per run, or
    with ``by`` one mean line and min–max band per group of runs.

    ``run_ids`` is one run id or a list of them (any unique prefixes). Points logged without
    a step are drawn in the order they were logged. NaN values leave a gap; runs that never
    logged ``metric`` are named on the chart; if none did, it is a ``UsageProblem`` that
    lists the metrics they have.

    ``by`` is a param name or a list of them (with or without ``params.``): the runs with the
    same values of those params (repeats with different seeds, say) form a group, drawn as
    the mean at each step over the group's runs that logged that step, with a band from
    their min to their max, and a legend entry such as ``lr=0.1, depth=3 (n=3)``. NaN and
    infinite points are left out of the means and bands and counted on the chart; ``by=[]``
    makes one group of every run.

    For example::

        plot_series(["3f2a", "9be0"], "loss").savefig("loss.png")
        plot_series(runs(experiment="grid")["run_id"], "loss", by=["lr"]).savefig("loss_by_lr.png")
    """
    from . import plots  # matplotlib loads with the first chart, not with the panel (~0.3 s)

    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    if not ids:
        return plots.message_figure("no runs selected", ax)
    name = metric[len("metrics."):] if metric.startswith("metrics.") else metric
    series, missing, known = [], [], set()
    for run_id in ids:
        run = api.get_run(run_id, db=db)
        known.update(run.metrics)
        if name not in run.metrics:
            missing.append(run.short_id)
            continue
        series.append((run, api.metric_series(run.run_id, name, db=db)))
    if not series:
        have = ", ".join(sorted(known)) or "no metrics"
        raise UsageProblem(f"no run among {', '.join(i[:8] for i in ids)} logged metric '{name}' (they have: {have})")
    if by is not None:
        return plots.plot_series_bands(series, name, by, missing, ax=ax)
    return plots.plot_series(series, name, missing, ax=ax)


def plot_parallel(
    metric: str,
    params: str | Sequence[str] | None = None,
    experiment: str | None = None,
    runs: RunsArg = None,
    db: str | os.PathLike | None = None,
    ax: "Axes | None" = None,
) -> "Figure":
    """Parallel coordinates: one line per run through a vertical axis per param and ``metric`` last,
    coloured by ``metric`` (colorbar at the right; the highest values are drawn on top).

    ``params`` is a param name or a list of them (with or without ``params.``), in axis order;
    ``None`` takes every param whose value differs among the runs, at most 8 (every param if
    none differs). Numeric axes run from the smallest value (bottom) to the largest (top),
    on a log scale for positive params spanning a factor of 100 or more, with a few values
    written beside the axis; other values sit evenly spaced in order, each labelled. A run
    without a param crosses that axis at "(not set)", below it. Runs without a finite
    ``metric`` are counted, not drawn. ``runs`` and ``experiment`` pick the runs as for
    :func:`plot_metric`.

    For example::

        plot_parallel("acc", params=["lr", "max_depth", "optimizer"], experiment="grid").savefig("grid.png")
    """
    from . import plots  # matplotlib loads with the first chart, not with the panel (~0.3 s)

    return plots.plot_parallel(runs_frame(runs, experiment, db), metric, params=params, experiment=experiment, ax=ax)


def plot_scatter(
    x: str,
    y: str,
    color: str | None = None,
    experiment: str | None = None,
    runs: RunsArg = None,
    db: str | os.PathLike | None = None,
    ax: "Axes | None" = None,
) -> "Figure":
    """One point per run: column ``x`` against column ``y``, coloured by the param ``color``.

    ``x`` and ``y`` each name a column of :func:`runs`: ``"metrics.<m>"``, ``"params.<p>"``,
    ``"duration"`` (seconds), ``"start"`` (a date axis), or a bare name, which is the metric
    of that name if there is one, else the param (use the prefix for a param that shares its
    name with a metric). Numbers are drawn on a number axis (a log axis for positive params
    spanning a factor of 100 or more), other values at one labelled position each.
    ``color`` is a param: text, or numbers with at most 8 distinct values, gives a colour per
    value with a legend; numbers with more values a colormap with a colorbar; runs without it
    are grey. Runs without a finite ``x`` or ``y`` are counted, not drawn. Up to 20 points are
    labelled with their short run id. ``runs`` and ``experiment`` pick the runs as for
    :func:`plot_metric`.

    For example::

        plot_scatter("duration", "acc", color="n_estimators", experiment="churn").savefig("cost.png")
    """
    from . import plots  # matplotlib loads with the first chart, not with the panel (~0.3 s)

    return plots.plot_scatter(runs_frame(runs, experiment, db), x, y, color=color, experiment=experiment, ax=ax)


def spread_summary(
    runs: RunsArg,
    metric: str,
    by: str | Sequence[str] | None = None,
    experiment: str | None = None,
    db: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Mean and spread of ``metric`` per combination of the params ``by``: the numbers behind ``plot_spread``.

    One row per combination, in the order of the param values; columns: the ``by`` params
    (as named in the runs table), ``runs`` (how many), ``n`` (how many have a finite value),
    ``mean``, ``std`` (0 for one value), ``min``, ``max``. Arguments are those of :func:`plot_spread`.

    For example::

        spread_summary(runs(experiment="grid"), "acc", by=["n_estimators"])
    """
    from . import plots  # matplotlib loads with the first chart, not with the panel (~0.3 s)

    return plots.spread_summary(runs_frame(runs, experiment, db), metric, by=by)


def plot_spread(
    runs: RunsArg,
    metric: str,
    by: str | Sequence[str] | None = None,
    spread: str = "range",
    experiment: str | None = None,
    db: str | os.PathLike | None = None,
    ax: "Axes | None" = None,
) -> "Figure":
    """Spread of ``metric`` over repeats: per combination of the params ``by``, the mean with
    min–max bars (``spread="range"``) or ±1 standard deviation bars (``spread="std"``), over
    the individual runs drawn as dots.

    ``runs`` is a DataFrame with ``params.<p>`` and ``metrics.<m>`` columns (such as
    :func:`runs` returns, or a batch's rows), run ids, or ``None`` (every run of
    ``experiment``). ``by`` is a param name or a list of them, with or without the
    ``params.`` prefix; ``None`` groups by every param column, so runs with identical params
    are the repeats. Runs without a finite value are counted, not drawn.

    For example::

        batch = runs(experiment="grid")
        plot_spread(batch, "acc", by=["params.n_estimators", "params.max_depth"]).savefig("spread.png")
    """
    from . import plots  # matplotlib loads with the first chart, not with the panel (~0.3 s)

    return plots.plot_spread(runs_frame(runs, experiment, db), metric, by=by, spread=spread, experiment=experiment,
                             ax=ax)


def runs_frame(runs: RunsArg, experiment: str | None = None, db: str | os.PathLike | None = None) -> pd.DataFrame:
    """The runs a chart shows: a DataFrame as given (of ``experiment``), every run of ``experiment``, or these ids."""
    if isinstance(runs, pd.DataFrame):
        if experiment is not None and "experiment" in runs.columns:
            return runs[runs["experiment"] == experiment]
        return runs
    frame = api.runs(experiment=experiment, db=db)
    if runs is None:
        return frame
    prefixes = [runs] if isinstance(runs, str) else list(runs)
    position = {run_id: index for index, run_id in zip(frame.index, frame["run_id"])}
    rows = []
    for prefix in prefixes:
        run_id = api.resolve(str(prefix), db=db)
        if run_id not in position:
            raise RunNotFound(str(prefix))  # a run of another experiment
        rows.append(position[run_id])
    return frame.loc[rows]
