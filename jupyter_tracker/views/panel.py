"""``panel()``: browse, filter, sort, compare and chart runs without leaving the notebook.

The panel is ipywidgets over the Python API only: ``api.runs`` fills the table,
``api.get_run``/``api.compare`` the comparison, and ``plots`` draws the charts. It holds the
whole runs table in memory (10,000 runs load in about 0.4 s) and filters, sorts and pages it
there, so typing in the filter never waits for the store.

Grouping (the groups tab) asks the store for the groups of the runs the filters leave
(``api.groups(by, runs=view)``): each metric's mean, std, min, max and count per group; picking
a group selects its runs, and the step chart then draws a mean line and min–max band per group.

It refreshes itself when this process records a run: a listener (``api.on_run_finished``)
only schedules the reload on the kernel's event loop, so a tracked cell does not wait for
it, and several runs recorded by one cell give one reload.

For example::

    import jupyter_tracker as jt
    p = jt.panel(experiment="churn")
    p          # in a notebook: the panel
    p.select(p.view.run_id.iloc[0], p.view.run_id.iloc[1])
    p.group_by.value = ("model",)   # the groups tab: one row per model, its runs one pick away
"""

from __future__ import annotations

import asyncio
import datetime as dt
import numbers
import os
import weakref
from html import escape
from typing import Any

# Imported only when a panel is made (jupyter_tracker.__getattr__): ipywidgets and pandas
# must not load at %load_ext.
import ipywidgets as widgets
import pandas as pd

from .. import api
from ..config import resolve_settings
from ..errors import TrackerError
from ..models.compare import same_value
from ..render import count, format_value, is_missing, runs_table_html
from . import plot_metric, plot_series

PAGE_SIZES = (25, 50, 100, 200)
BASE_COLUMNS = ["run_id", "experiment", "name", "status", "start", "duration"]
COMPARE_TAB, CHARTS_TAB, GROUPS_TAB = 0, 1, 2
CHART_DPI = 90
HINT_STYLE = "color:#666;padding:4px"


class _Everything:
    """The 'no filter' choice of a dropdown (a value no experiment or run name can have)."""

    def __repr__(self) -> str:
        return "ALL"


ALL = _Everything()


def panel(experiment: str | None = None, db: str | os.PathLike | None = None, page_size: int = 25) -> "RunsPanel":
    """An ipywidgets panel over the runs: a filterable, sortable, paged table; select runs to
    compare them (differences highlighted) and chart their metrics; the step series of a
    chosen metric. It refreshes itself when this kernel records a run, and has a refresh
    button for runs recorded elsewhere (other kernels, batch, reruns).

    ``experiment`` preselects the experiment filter; ``db`` names the store file.

    For example::

        panel(experiment="churn")
    """
    return RunsPanel(experiment=experiment, db=db, page_size=page_size)


class RunsPanel(widgets.VBox):
    """The panel returned by :func:`panel`; also drivable from code.

    ``text_filter``, ``experiment_filter``, ``name_filter``, ``sort_by``, ``descending``,
    ``page_size``, ``picker`` (the runs of the page to select), ``metric`` and ``x_axis`` (the
    charts' choices), ``group_by`` (params to group by) and ``group_picker`` (a group whose runs to
    select) are ordinary ipywidgets: setting their ``value`` updates the panel.
    ``view`` is the filtered, sorted table; ``selected`` the chosen run ids, across pages;
    ``groups`` the groups of ``view`` by ``group_by``, as ``jupyter_tracker.groups`` returns them.

    For example::

        p = RunsPanel(experiment="churn")
        p.text_filter.value = "adam"
        p.sort_by.value = "metrics.acc"
        p.select(*p.view.run_id.head(2))
    """

    def __init__(self, experiment: str | None = None, db: str | os.PathLike | None = None, page_size: int = 25):
        self.db = db
        self.frame = pd.DataFrame(columns=BASE_COLUMNS)  # every run in the store
        self.view = self.frame  # those matching the filters, in display order
        self.selected: list[str] = []
        self.page = 0
        self.error: str | None = None
        self.refreshed_at = dt.datetime.now()
        self._search = pd.Series([], dtype=str)
        self._quiet = False  # set while the panel itself updates widgets, so observers stay still
        self._charts_stale = True
        self._groups_stale = True
        self.groups = pd.DataFrame()
        self._refresh_pending = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a plain Python shell or script: refresh right away instead
            self._loop = None

        layout = widgets.Layout
        self.title = widgets.HTML()
        self.refresh_button = widgets.Button(description="refresh", icon="refresh",
                                             tooltip="reload runs from the store", layout=layout(width="110px"))
        self.text_filter = widgets.Text(
            placeholder="filter: words anywhere in a run (id, name, alpha=0.1, model=rf…)",
            layout=layout(flex="2 1 auto"),
        )
        self.experiment_filter = widgets.Dropdown(description="experiment", options=[("all", ALL)], value=ALL,
                                                  layout=layout(flex="1 1 auto"))
        self.name_filter = widgets.Dropdown(description="name", options=[("all", ALL)], value=ALL,
                                            layout=layout(flex="1 1 auto"))
        self.sort_by = widgets.Dropdown(description="sort by", options=BASE_COLUMNS, value="start",
                                        layout=layout(width="260px"))
        self.descending = widgets.Checkbox(value=True, description="descending", indent=False,
                                           layout=layout(width="110px"))
        if page_size not in PAGE_SIZES:
            page_size = PAGE_SIZES[0]
        self.page_size = widgets.Dropdown(description="per page", options=PAGE_SIZES, value=page_size,
                                          layout=layout(width="150px"))
        self.previous_button = widgets.Button(description="◀", tooltip="previous page", layout=layout(width="40px"))
        self.next_button = widgets.Button(description="▶", tooltip="next page", layout=layout(width="40px"))
        self.page_label = widgets.Label()
        self.table = widgets.HTML()
        self.picker = widgets.SelectMultiple(description="select", rows=8, layout=layout(width="100%"))
        self.selection_label = widgets.HTML()
        self.clear_button = widgets.Button(description="clear selection", layout=layout(width="130px"))
        self.comparison = widgets.HTML()
        self.metric = widgets.Dropdown(description="metric", options=[], layout=layout(width="260px"))
        self.x_axis = widgets.Dropdown(description="x axis", options=[("run", ALL)], value=ALL,
                                       layout=layout(width="260px"))
        self.metric_caption = widgets.HTML()
        # Charts keep their own size (not stretched to the panel's width, which blurs them).
        self.metric_chart = widgets.Image(format="png", layout=layout(max_width="100%", align_self="flex-start"))
        self.series_caption = widgets.HTML()
        self.series_chart = widgets.Image(format="png", layout=layout(max_width="100%", align_self="flex-start"))
        self.group_by = widgets.SelectMultiple(description="group by", options=[], rows=4,
                                               layout=layout(width="320px"))
        self.group_picker = widgets.Dropdown(description="runs of", options=[("none", None)], value=None,
                                             layout=layout(width="420px"))
        self.groups_caption = widgets.HTML()
        self.groups_table = widgets.HTML()
        self.details = widgets.Tab(
            children=[
                self.comparison,
                widgets.VBox([
                    widgets.HBox([self.metric, self.x_axis]),
                    widgets.HBox([widgets.VBox([self.metric_caption, self.metric_chart]),
                                  widgets.VBox([self.series_caption, self.series_chart])],
                                 layout=layout(flex_flow="row wrap", grid_gap="16px")),
                ]),
                widgets.VBox([
                    widgets.HBox([self.group_by, widgets.VBox([self.group_picker, self.groups_caption])]),
                    widgets.Box([self.groups_table], layout=layout(overflow="auto", max_height="420px")),
                ]),
            ],
            titles=("compare", "charts", "groups"),
        )
        super().__init__(children=[
            widgets.HBox([self.title, self.refresh_button], layout=layout(justify_content="space-between")),
            widgets.HBox([self.text_filter, self.experiment_filter, self.name_filter]),
            widgets.HBox([self.sort_by, self.descending, self.page_size, self.previous_button, self.page_label,
                          self.next_button]),
            widgets.Box([self.table], layout=layout(overflow="auto", max_height="420px", border="1px solid #ddd")),
            widgets.HBox([self.picker, widgets.VBox([self.selection_label, self.clear_button],
                                                    layout=layout(width="240px"))]),
            self.details,
        ])

        self.refresh_button.on_click(lambda _: self.refresh())
        self.previous_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.clear_button.on_click(lambda _: self.clear_selection())
        for control in (self.text_filter, self.name_filter, self.sort_by, self.descending, self.page_size):
            control.observe(self._on_filter, names="value")
        self.experiment_filter.observe(self._on_experiment, names="value")
        self.picker.observe(self._on_pick, names="value")
        for control in (self.metric, self.x_axis):
            control.observe(self._on_chart_choice, names="value")
        self.group_by.observe(self._on_group_by, names="value")
        self.group_picker.observe(self._on_group_pick, names="value")
        self.details.observe(self._on_tab, names="selected_index")

        self._wanted_experiment = experiment
        self.refresh()
        if experiment is not None:
            self.experiment_filter.value = experiment
        self._stop_listening = _listen(self)

    # ------------------------------------------------------------ public
    def refresh(self) -> None:
        """Reload the runs from the store, keeping the filters, sort, page and selection
        (what the refresh button does; runs recorded in this kernel need no refresh).

        For example::

            p.refresh()
        """
        self._refresh_pending = False
        try:
            frame = api.runs(db=self.db)
            self.error = None
        except TrackerError as error:  # no store yet, or one we cannot read: say so in the panel
            frame = pd.DataFrame(columns=BASE_COLUMNS)
            self.error = str(error)
        self.frame = frame.reset_index(drop=True)
        self._search = _search_text(self.frame)
        known = set(self.frame["run_id"])
        self.selected = [run_id for run_id in self.selected if run_id in known]
        self.refreshed_at = dt.datetime.now()
        self._quietly(self._update_choices)
        self._charts_stale = True
        self._apply(keep_page=True)
        self._show_selection()
        self._update_groups_if_shown()

    def select(self, *run_ids: str) -> None:
        """Select runs by id or unique prefix (replacing the selection), as clicking them would.

        For example::

            p.select("3f2a", "9be0")
        """
        self.selected = [api.resolve(run_id, db=self.db) for run_id in run_ids]
        self._render_page()
        self._show_selection()

    def clear_selection(self) -> None:
        """Unselect every run (the clear selection button).

        For example::

            p.clear_selection()
        """
        self.selected = []
        self._render_page()
        self._show_selection()

    def next_page(self) -> None:
        self.go_to_page(self.page + 1)

    def previous_page(self) -> None:
        self.go_to_page(self.page - 1)

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped to the pages there are).

        For example::

            p.go_to_page(p.page_count - 1)  # the last page
        """
        self.page = max(0, min(page, self.page_count - 1))
        self._render_page()

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.view) // self.page_size.value))

    @property
    def page_frame(self) -> pd.DataFrame:
        """The rows of the table as shown now."""
        start = self.page * self.page_size.value
        return self.view.iloc[start:start + self.page_size.value]

    def close(self) -> None:
        """Stop listening for new runs and close the panel's widgets.

        For example::

            p.close()
        """
        getattr(self, "_stop_listening", lambda: None)()
        for child in self._descendants():
            child.close()
        super().close()

    # ------------------------------------------------------- refreshing
    def _run_recorded(self, run: Any) -> None:
        # Called inside the recording cell: only schedule. call_soon runs after the cell,
        # once the kernel's loop is free; many runs in one cell give one reload.
        if self._refresh_pending:
            return
        self._refresh_pending = True
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._refresh_quietly)
        else:
            self._refresh_quietly()

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001  (a loop callback has nobody to raise to)
            self.error = f"refresh failed: {type(error).__name__}: {error}"
            self._render_title()

    # ---------------------------------------------------------- filters
    def _update_choices(self) -> None:
        """Dropdown options from the runs loaded, keeping each current choice when it still exists."""
        experiments = sorted(set(self.frame["experiment"]) | ({self._wanted_experiment} - {None}))
        _set_options(self.experiment_filter, [("all", ALL)] + [(e, e) for e in experiments])
        self._update_names()
        columns = list(self.frame.columns) if len(self.frame.columns) else BASE_COLUMNS
        _set_options(self.sort_by, columns, default="start")
        metrics = [c[len("metrics."):] for c in self.frame.columns if c.startswith("metrics.")]
        _set_options(self.metric, metrics, default=metrics[0] if metrics else None)
        params = [c[len("params."):] for c in self.frame.columns if c.startswith("params.")]
        _set_options(self.x_axis, [("run", ALL)] + [(p, p) for p in params])
        chosen = tuple(p for p in self.group_by.value if p in params)
        if list(self.group_by.options) != params:
            self.group_by.options = params
        self.group_by.value = chosen

    def _update_names(self) -> None:
        frame = self.frame
        if self.experiment_filter.value is not ALL:
            frame = frame[frame["experiment"] == self.experiment_filter.value]
        _set_options(self.name_filter, [("all", ALL)] + [(n, n) for n in sorted(set(frame["name"]))])

    def _on_experiment(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._quietly(self._update_names)
        self._on_filter(change)

    def _on_filter(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._charts_stale = True
        self._apply(keep_page=False)
        if not self.selected:
            self._update_charts_if_shown()
        self._groups_stale = True
        self._update_groups_if_shown()

    def _apply(self, keep_page: bool) -> None:
        """Filter and sort the loaded runs into ``view``, then show a page of it."""
        frame, mask = self.frame, pd.Series(True, index=self.frame.index)
        if self.experiment_filter.value is not ALL:
            mask &= frame["experiment"] == self.experiment_filter.value
        if self.name_filter.value is not ALL:
            mask &= frame["name"] == self.name_filter.value
        for word in self.text_filter.value.lower().split():
            mask &= self._search.str.contains(word, regex=False)
        view = frame[mask]
        column = self.sort_by.value
        if column in view.columns:
            view = view.iloc[_order(view[column], descending=self.descending.value)]
        self.view = view
        self.page = min(self.page, self.page_count - 1) if keep_page else 0
        self._render_page()

    # ------------------------------------------------------------ table
    def _render_page(self) -> None:
        page = self.page_frame
        first = self.page * self.page_size.value
        self.table.value = runs_table_html(page, selected=self.selected, first_row=first + 1)
        shown = f"{first + 1}–{first + len(page)} of {len(self.view)}" if len(page) else "0 of 0"
        self.page_label.value = f"page {self.page + 1} of {self.page_count} · runs {shown}"
        self.previous_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.page_count - 1
        shown_columns = page[["run_id", "name", "experiment", "status"]]
        options = [(_pick_label(row), row.run_id) for row in shown_columns.itertuples(index=False)]
        ids_here = {run_id for _, run_id in options}
        self._quietly(lambda: (
            setattr(self.picker, "options", options),
            setattr(self.picker, "value", tuple(i for i in self.selected if i in ids_here)),
        ))
        self._render_title()

    def _render_title(self) -> None:
        store = resolve_settings(self.db).db_path
        parts = [f"<b>jupyter_tracker</b> · {len(self.frame)} runs"]
        if len(self.view) != len(self.frame):
            parts.append(f"{len(self.view)} match")
        if self.selected:
            parts.append(f"{len(self.selected)} selected")
        parts.append(f"<span title='{escape(str(store))}' style='color:#777'>{escape(store.name)}</span>")
        parts.append(f"<span style='color:#777'>updated {self.refreshed_at:%H:%M:%S}</span>")
        title = " · ".join(parts)
        if self.error:
            title += f"<br><span style='color:#c62828'>{escape(self.error)}</span>"
        self.title.value = title

    # -------------------------------------------------------- selection
    def _on_pick(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        here = {run_id for _, run_id in self.picker.options}
        chosen = list(change["new"])
        kept = [run_id for run_id in self.selected if run_id not in here or run_id in chosen]
        self.selected = kept + [run_id for run_id in chosen if run_id not in kept]
        self._render_page()
        self._show_selection()

    def _show_selection(self) -> None:
        ids = self.selected
        self.selection_label.value = (
            "<br>".join(escape(f"{run_id[:8]} {_name_of(self.frame, run_id)}") for run_id in ids[:12])
            + (f"<br>and {len(ids) - 12} more" if len(ids) > 12 else "")
            if ids else f"<span style='{HINT_STYLE}'>no runs selected</span>"
        )
        if not ids:
            self.comparison.value = (f"<div style='{HINT_STYLE}'>Select runs (ctrl- or shift-click for several) "
                                     "to see one run's record, or several side by side.</div>")
        else:
            try:
                shown = api.get_run(ids[0], db=self.db) if len(ids) == 1 else api.compare(*ids, db=self.db)
                self.comparison.value = shown._repr_html_()
            except TrackerError as error:
                self.comparison.value = _error_html(error)
        self._charts_stale = True
        self._update_charts_if_shown()
        self._render_title()

    # ----------------------------------------------------------- charts
    def _on_tab(self, change: dict[str, Any]) -> None:
        self._update_charts_if_shown()
        self._update_groups_if_shown()

    def _on_chart_choice(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._charts_stale = True
        self._update_charts_if_shown()

    def _update_charts_if_shown(self) -> None:
        # Drawing costs ~0.1 s a chart: only for a visible charts tab, and only after a change.
        if self.details.selected_index == CHARTS_TAB and self._charts_stale:
            self.update_charts()

    def update_charts(self) -> None:
        """Draw the charts for the current selection (or, with none, the runs matching the filters).

        The charts tab calls this when it is shown and something changed; call it to draw them
        without opening the tab.

        For example::

            p.update_charts(); bytes(p.metric_chart.value[:4])
            b'\\x89PNG'
        """
        from .plots import figure_png  # matplotlib loads with the first chart, not with the panel (~0.3 s)

        self._charts_stale = False
        metric = self.metric.value
        if not metric:
            self.metric_caption.value = f"<div style='{HINT_STYLE}'>no metrics recorded yet</div>"
            self.metric_chart.value = self.series_chart.value = b""
            self.series_caption.value = ""
            return
        by = None if self.x_axis.value is ALL else self.x_axis.value
        if self.selected:
            runs = self.frame.set_index("run_id", drop=False).loc[self.selected]
            whose = f"the {count(len(runs), 'selected run')}"
        else:
            runs = self.view
            whose = f"the {count(len(runs), 'run')} matching the filters"
        self.metric_caption.value = f"<b>final {escape(metric)}</b> of {escape(whose)}"
        try:
            self.metric_chart.value = figure_png(plot_metric(metric, by=by, runs=runs, db=self.db), dpi=CHART_DPI)
        except TrackerError as error:
            self.metric_caption.value += _error_html(error)
            self.metric_chart.value = b""
        if not self.selected:
            self.series_caption.value = (f"<div style='{HINT_STYLE}'>select runs to see their "
                                         f"{escape(metric)} by step</div>")
            self.series_chart.value = b""
            return
        by = list(self.group_by.value) or None
        banded = f", mean and min–max band by {', '.join(by)}" if by else ""
        self.series_caption.value = f"<b>{escape(metric)} by step</b> for {escape(whose)}{escape(banded)}"
        try:
            chart = plot_series(self.selected, metric, by=by, db=self.db)
            self.series_chart.value = figure_png(chart, dpi=CHART_DPI)
        except TrackerError as error:
            self.series_caption.value += _error_html(error)
            self.series_chart.value = b""

    # ----------------------------------------------------------- groups
    def _on_group_by(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._groups_stale = self._charts_stale = True
        self._update_groups_if_shown()
        if self.selected:
            self._update_charts_if_shown()

    def _on_group_pick(self, change: dict[str, Any]) -> None:
        if self._quiet or change["new"] is None:
            return
        self.selected = self.group_runs(change["new"])
        self._render_page()
        self._show_selection()

    def _update_groups_if_shown(self) -> None:
        if self.details.selected_index == GROUPS_TAB and self._groups_stale:
            self.update_groups()

    def update_groups(self) -> None:
        """Group the runs matching the filters by the params chosen in ``group_by`` into ``groups`` and
        its table; ``group_picker`` then offers each group. The groups tab calls this when it is shown
        and something changed.

        For example::

            p.group_by.value = ("model",); p.update_groups(); p.groups[["model", "runs"]]
        """
        self._groups_stale = False
        by = list(self.group_by.value)
        self.groups = pd.DataFrame()
        if not by:
            self.groups_caption.value = (f"<div style='{HINT_STYLE}'>choose params to group the runs matching "
                                         "the filters by (their repeats over seeds, say)</div>")
        else:
            try:
                self.groups = api.groups(by, runs=self.view, db=self.db)
                self.groups_caption.value = (
                    f"<b>{escape(count(len(self.groups), 'group'))}</b> of the {escape(count(len(self.view), 'run'))}"
                    f" matching the filters, by {escape(', '.join(by))}: each metric's mean, std, min, max and count")
            except TrackerError as error:
                self.groups_caption.value = _error_html(error)
        self.groups_table.value = _groups_html(self.groups, by) if len(self.groups) else ""
        labels = [(_group_label(row, by), index) for index, row in self.groups.iterrows()]
        self._quietly(lambda: (setattr(self.group_picker, "options", [("none", None), *labels]),
                               setattr(self.group_picker, "value", None)))

    def group_runs(self, index: int) -> list[str]:
        """The run ids of group ``index`` of ``groups``, among the runs matching the filters, in their order.

        For example::

            p.select(*p.group_runs(0))
        """
        key = self.groups.iloc[index]
        mask = pd.Series(True, index=self.view.index)
        for name in self.group_by.value:
            wanted, column = key[name], f"params.{name}"
            values = self.view[column] if column in self.view.columns else pd.Series(None, index=self.view.index)
            mask &= values.map(lambda value, wanted=wanted: is_missing(wanted) if is_missing(value)
                               else not is_missing(wanted) and same_value(value, wanted))
        return list(self.view.loc[mask, "run_id"])

    # ----------------------------------------------------------- helpers
    def _quietly(self, update: Any) -> None:
        quiet, self._quiet = self._quiet, True
        try:
            update()
        finally:
            self._quiet = quiet

    def _descendants(self) -> list[widgets.Widget]:
        found, stack = [], list(self.children)
        while stack:
            child = stack.pop()
            found.append(child)
            stack.extend(getattr(child, "children", ()))
        return found


def _listen(target: RunsPanel) -> Any:
    """Subscribe the panel to finished runs without keeping a forgotten panel alive."""
    ref = weakref.ref(target)

    def on_run_finished(run: Any) -> None:
        current = ref()
        if current is None:
            stop()
        else:
            current._run_recorded(run)

    stop = api.on_run_finished(on_run_finished)
    return stop


def _set_options(dropdown: widgets.Dropdown, options: list[Any], default: Any = ALL) -> None:
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    current = dropdown.value
    if list(dropdown.options) != list(options):
        dropdown.options = options
    if current in values and current is not None:
        dropdown.value = current
    elif default in values:
        dropdown.value = default
    elif values:
        dropdown.value = values[0]


def _search_text(frame: pd.DataFrame) -> pd.Series:
    """Each run as one lower-case string, so a filter word is a substring test: its id, experiment,
    name and status, and ``name=value`` for each param, metric and tag (so ``alpha=0.1`` finds
    the runs whose alpha is 0.1, and ``alpha`` those that have one)."""
    if frame.empty:
        return pd.Series([], dtype=str, index=frame.index)
    columns = [c for c in frame.columns if c not in ("start", "duration")]
    labels = [c.split(".", 1)[1] + "=" if c.startswith(("params.", "metrics.", "tags.")) else "" for c in columns]
    texts = [
        " ".join(label + _cell_text(value) for label, value in zip(labels, row) if not is_missing(value)).lower()
        for row in frame[columns].itertuples(index=False)
    ]
    return pd.Series(texts, index=frame.index, dtype=str)


def _cell_text(value: Any) -> str:
    return value if isinstance(value, str) else format_value(value, width=200)


def _order(column: pd.Series, descending: bool) -> list[int]:
    """Positions sorting ``column``: numbers and times by value, the rest by text, missing last either way."""
    values = column.tolist()
    present = [i for i, v in enumerate(values) if not is_missing(v)]
    missing = [i for i, v in enumerate(values) if is_missing(v)]
    present.sort(key=lambda i: _sort_key(values[i]), reverse=descending)
    return present + missing


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (0, float(value), "")
    if hasattr(value, "timestamp"):
        return (0, value.timestamp(), "")
    return (1, 0.0, value.lower() if isinstance(value, str) else format_value(value, width=200).lower())



def _group_label(row: pd.Series, by: list[str]) -> str:
    key = ", ".join(f"{name}={_shown(row[name])}" for name in by)
    return f"{key} ({count(int(row['runs']), 'run')})"


def _shown(value: Any) -> str:
    return "(none)" if is_missing(value) else format_value(value)


def _groups_html(groups: pd.DataFrame, by: list[str]) -> str:
    """The groups as an HTML table: the by-params, runs, then each metric's statistics; values escaped."""
    header = "".join(f"<th style='text-align:left;padding:2px 8px'>{escape(str(c))}</th>" for c in groups.columns)
    rows = []
    for _, row in groups.iterrows():
        cells = []
        for column in groups.columns:
            value = row[column]
            if column in by:  # a param: cut to fit, whole on hover
                full = "(none)" if is_missing(value) else _cell_text(value)
                cells.append((_shown(value), full))
            else:  # a count or a statistic; none where the group has no finite value (std of one run)
                shown = "" if is_missing(value) else format_value(value)
                cells.append((shown, shown))
        rows.append("<tr>" + "".join(f"<td style='padding:2px 8px' title='{escape(full, quote=True)}'>"
                                     f"{escape(shown)}</td>" for shown, full in cells) + "</tr>")
    return f"<table style='border-collapse:collapse'><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _pick_label(row: Any) -> str:
    return f"{row.run_id[:8]}  {row.name}  ({row.experiment}, {row.status})"


def _name_of(frame: pd.DataFrame, run_id: str) -> str:
    names = frame.loc[frame["run_id"] == run_id, "name"]
    return str(names.iloc[0]) if len(names) else ""


def _error_html(error: Exception) -> str:
    return f"<div style='color:#c62828;padding:4px'>{escape(str(error))}</div>"


