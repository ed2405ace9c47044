"""``%%track`` and ``%track SUBCOMMAND``: thin wrappers over the Python API.

Arguments are parsed with IPython's ``magic_arguments``; every problem reaches the user as
a plain ``UsageError`` line, never a traceback.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display, update_display

from . import api
from .capture.cell import CellTracker, Guard, TrackOptions
from .config import resolve_settings
from .errors import TrackerError
from .models.validation import parse_rules
from .records import Run
from .render import CellSummary


@magic_arguments()
@argument("name", nargs="?", help="run name (default: cell<N>)")
@argument("--experiment", "-e", help="experiment to file the run under (default: 'default')")
@argument("--metrics", "-m", default="", help="comma-separated names whose final values are metrics")
@argument("--params", "-p", default="", help="comma-separated names whose values are params")
@argument("--tag", "-t", action="append", default=[], metavar="KEY=VALUE", help="tag the run (repeatable)")
@argument("--db", help="store file (default: JUPYTER_TRACKER_DB, else the nearest .jupyter_tracker/)")
@argument("--baseline", "-b", help="after the summary, validate the run against this stage's model (e.g. production) or run id")
@argument("--rule", action="append", default=[], metavar="'METRIC OP LIMIT'",
          help="metric rule for --baseline, e.g. 'acc >= baseline - 0.01' (repeatable)")
@argument("--model", default="model", help="registry model name whose stage --baseline names (default: model)")
def track_cell(line: str) -> None:
    """%%track [name] [options]: record this cell as a run."""


@magic_arguments()
@argument("--experiment", "-e", help="only runs of this experiment")
@argument("--name", "-n", help="only runs with this name")
@argument("--last", "-l", type=int, help="only the N most recent runs")
def track_runs(line: str) -> None:
    """%track runs: the runs table as a DataFrame."""


@magic_arguments()
@argument("run", help="run id or unique prefix")
def track_show(line: str) -> None:
    """%track show RUN: everything recorded about a run."""


@magic_arguments()
@argument("runs", nargs="+", help="two or more run ids or unique prefixes")
def track_compare(line: str) -> None:
    """%track compare RUN RUN...: runs side by side."""


@magic_arguments()
@argument("seed", type=int, help="the seed")
def track_seed(line: str) -> None:
    """%track seed N: seed python, numpy and torch (those imported) at once, and record it."""


@magic_arguments()
@argument("--experiment", "-e", help="show this experiment's runs first (the filter can be changed in the panel)")
def track_panel(line: str) -> None:
    """%track panel: browse, filter, sort, compare and chart runs in an ipywidgets panel."""


@magic_arguments()
def track_off(line: str) -> None:
    """%track off: stop recording %%track cells (they still run)."""


@magic_arguments()
def track_on(line: str) -> None:
    """%track on: record %%track cells again."""


@magic_arguments()
def track_status(line: str) -> None:
    """%track status: whether tracking is on, the store, and the last run."""


SUBCOMMANDS: dict[str, Callable[..., Any]] = {
    "runs": track_runs, "show": track_show, "compare": track_compare, "seed": track_seed,
    "panel": track_panel, "off": track_off, "on": track_on, "status": track_status,
}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


@functools.lru_cache(maxsize=256)
def _parse_cell_line(line: str) -> Any:
    # A notebook re-runs the same few %%track lines: argparse once per distinct line (0.1 ms, issue 7).
    # The namespace is shared between calls, so it is only ever read.
    return parse_argstring(track_cell, line)


def show(obj: Any) -> None:
    """Display ``obj`` under the cell. The summary shown after every tracked cell is published as the
    bundle it makes itself: IPython's formatters would each look it up first (0.2 ms a cell, issue 7)."""
    bundle = getattr(obj, "_repr_mimebundle_", None)
    if bundle is not None:
        display(bundle(), raw=True)
    else:
        display(obj)


class LiveLine:
    """The summary line of the running cell, updated in place (issue 12): one display, created by the
    first update and given the final summary by ``close``. A cell that clears its output (``clear_output``
    in a training loop) gets a new line at the next update, so the final summary is never lost."""

    def __init__(self, shell: Any) -> None:
        self.display_pub = shell.display_pub
        self.display_id: str | None = None
        self._cleared = False

    def show(self, obj: Any) -> None:
        bundle = obj._repr_mimebundle_()
        if self.display_id is None or self._cleared:
            self._cleared = False
            self.display_id = uuid.uuid4().hex
            self._watch_clears()
            display(bundle, raw=True, display_id=self.display_id)
        else:
            update_display(bundle, raw=True, display_id=self.display_id)

    def _watch_clears(self) -> None:
        if "clear_output" in vars(self.display_pub):
            return
        clear_output = self.display_pub.clear_output

        def clearing(*args: Any, **kwargs: Any) -> Any:
            self._cleared = True
            return clear_output(*args, **kwargs)

        self.display_pub.clear_output = clearing

    def close(self, final: Any) -> None:
        """Show ``final`` in the line's place, and be ready for the next cell."""
        if self.display_id is not None:
            self.show(final)
            self.display_id = None
        self.reset()

    def reset(self) -> None:
        """After every tracked cell: a line still showing "running" (the run could not be recorded, and a
        warning says so) is emptied; the next cell starts a line of its own."""
        if self.display_id is not None and not self._cleared:
            update_display({"text/plain": ""}, raw=True, display_id=self.display_id)
        vars(self.display_pub).pop("clear_output", None)
        self.display_id = None


def _help() -> str:
    parts = ["Record a notebook cell as an experiment run, or look at runs.\n", track_cell.__doc__ or ""]
    for function in SUBCOMMANDS.values():
        parts.append(function.__doc__ or "")
    return "\n".join(parts)


@magics_class
class TrackerMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        # A summary line that updates while the cell runs needs a notebook: a terminal shows only the end.
        self.live_line = LiveLine(shell) if getattr(shell, "kernel", None) is not None else None
        self.tracker = CellTracker(shell, finished=self._show_run,
                                   live=self.live_line.show if self.live_line is not None else None)

    @line_cell_magic
    def track(self, line: str, cell: str | None = None) -> Any:
        __tracebackhide__ = True  # noqa: F841
        if cell is None:
            try:
                return self._subcommand(line)
            except TrackerError as error:
                raise UsageError(str(error)) from None
        try:
            return self.tracker.run(self._cell_options(line), cell)
        finally:
            if self.live_line is not None:
                self.live_line.reset()

    track.__doc__ = _help()

    def _show_run(self, run: Run, previous: Run | None, options: TrackOptions) -> None:
        """After a tracked cell: its summary line, then its validation when ``--baseline`` asks for one."""
        summary = CellSummary(run, previous)
        if self.live_line is not None and self.live_line.display_id is not None:
            self.live_line.close(summary)  # the line that showed the running cell now shows its summary
        else:
            show(summary)
        if options.baseline:
            # Guarded: no baseline yet is a warning line under the summary, never a broken cell.
            result = Guard()(f"validate against '{options.baseline}'", lambda: api.validate(
                run.run_id, baseline=options.baseline, rules=options.rules or None, name=options.model, db=options.db))
            if result is not None:
                show(result)

    def _cell_options(self, line: str) -> TrackOptions:
        args = _parse_cell_line(line)
        tags = {}
        for item in args.tag:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--tag expects KEY=VALUE, got '{item}'")
            tags[key] = value
        # magic_arguments splits like a non-POSIX shell: --rule 'acc >= 0.9' keeps its quotes.
        rules = [_unquote(rule) for rule in args.rule]
        if rules and not args.baseline:
            raise UsageError("--rule needs --baseline: the stage or run to validate against")
        if rules:
            try:
                parse_rules(rules)  # a malformed rule stops the cell before it runs, like a bad --tag
            except TrackerError as error:
                raise UsageError(str(error)) from None
        return TrackOptions(
            name=args.name, experiment=args.experiment, tags=tags, db=args.db,
            baseline=args.baseline and _unquote(args.baseline), rules=rules, model=_unquote(args.model),
            metrics=[n.strip() for n in args.metrics.split(",") if n.strip()],
            params=[n.strip() for n in args.params.split(",") if n.strip()],
        )

    def _subcommand(self, line: str) -> Any:
        name, _, rest = line.strip().partition(" ")
        if name not in SUBCOMMANDS:
            raise UsageError(
                f"unknown %track subcommand '{name}': use one of {', '.join(SUBCOMMANDS)} (or %%track on a cell)"
                if name else f"%track needs a subcommand: {', '.join(SUBCOMMANDS)} (or %%track on a cell)"
            )
        args = parse_argstring(SUBCOMMANDS[name], rest)
        return getattr(self, f"_do_{name}")(args)

    # ------------------------------------------------------------ subcommands
    def _do_runs(self, args: Any) -> Any:
        return api.runs(experiment=args.experiment, name=args.name, last=args.last)

    def _do_show(self, args: Any) -> Any:
        return api.get_run(args.run)

    def _do_compare(self, args: Any) -> Any:
        return api.compare(*args.runs)

    def _do_seed(self, args: Any) -> None:
        generators = self.tracker.seeds.seed_all(args.seed)  # recorded with the running or the next run
        print(f"seeded {', '.join(generators)} with {args.seed}")

    def _do_panel(self, args: Any) -> Any:
        from .views.panel import panel  # ipywidgets loads only when a panel is asked for (matplotlib: its first chart)

        return panel(experiment=args.experiment)

    def _do_off(self, args: Any) -> None:
        self.tracker.enabled = False
        print("jupyter_tracker: tracking off (%%track cells run without being recorded)")

    def _do_on(self, args: Any) -> None:
        self.tracker.enabled = True
        print("jupyter_tracker: tracking on")

    def _do_status(self, args: Any) -> None:
        path = resolve_settings().db_path
        lines = [f"tracking: {'on' if self.tracker.enabled else 'off'}", f"store: {path}"]
        if path.exists():
            store = api.open_store(path)
            lines.append(f"schema version: {store.schema_version}")
            lines.append(f"runs: {store.count_runs()}")
        else:
            lines.append("runs: 0 (the store is created by the first tracked cell)")
        last = self.tracker.last_run
        lines.append(f"last run: {last.short_id} {last.name} ({last.status})" if last else "last run: none in this kernel")
        print("\n".join(lines))
