"""``jupyter-tracker`` (also ``jupyter tracker``): the command line over the Python API.

Every TrackerError becomes one line on stderr and the error's exit code; no tracebacks.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from . import api
from .display import frame_json, json_text
from .errors import TrackerError

FORMATS = click.Choice(["table", "csv", "json"])


class TrackerGroup(click.Group):
    """Translates TrackerError in one place: one stderr line, the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)


@click.group(cls=TrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="JUPYTER_TRACKER_DB", type=click.Path(dir_okay=False),
              help="Store file (default: $JUPYTER_TRACKER_DB, else the nearest .jupyter_tracker/tracker.db).")
@click.version_option(package_name="jupyter_tracker")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Browse and check the runs recorded by %%track."""
    ctx.obj = {"db": db}


@cli.command()
@click.option("--experiment", "-e", help="Only runs of this experiment.")
@click.option("--name", "-n", help="Only runs with this name.")
@click.option("--last", "-l", type=click.IntRange(min=1), help="Only the N most recent runs.")
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
def runs(obj: dict, experiment: str | None, name: str | None, last: int | None, fmt: str) -> None:
    """List runs, oldest first, with their params, final metrics and tags."""
    frame = api.runs(experiment=experiment, name=name, last=last, db=obj["db"])
    if fmt == "table":
        frame = frame.assign(run_id=frame["run_id"].str[:8], start=frame["start"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    _echo_frame(frame, fmt, empty="no runs")


@cli.command()
@click.argument("run")
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
def show(obj: dict, run: str, fmt: str) -> None:
    """Everything recorded about RUN (any unique prefix of its id)."""
    record = api.get_run(run, db=obj["db"])
    if fmt == "table":
        click.echo(str(record))
    elif fmt == "json":
        click.echo(json_text(_run_dict(record)))
    else:
        import pandas as pd

        rows = [("run", k, v) for k, v in _run_dict(record).items() if not isinstance(v, (dict, list))]
        rows += [("param", k, v) for k, v in record.params.items()]
        rows += [("metric", k, v) for k, v in record.metrics.items()]
        rows += [("seed", s.source, s.value) for s in record.seeds]
        rows += [(r.role, r.name, r.fingerprint.hash if r.fingerprint else r.note) for r in record.inputs + record.outputs]
        click.echo(pd.DataFrame(rows, columns=["section", "key", "value"]).to_csv(index=False), nl=False)


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
def compare(obj: dict, runs: tuple[str, ...], fmt: str) -> None:
    """Compare two or more RUNS side by side: params, seeds, data, metrics, code, packages."""
    comparison = api.compare(*runs, db=obj["db"])
    if fmt == "table":
        click.echo(str(comparison))
    elif fmt == "json":
        click.echo(json_text(comparison.to_dict()))
    else:
        import pandas as pd

        frames = {"params": comparison.params_frame(), "metrics": comparison.metrics_frame(),
                  "data": comparison.data_frame()}
        combined = pd.concat(frames, names=["section", "key"])
        click.echo(combined.to_csv(), nl=False)


@cli.command()
@click.option("--format", "-f", "fmt", type=click.Choice(["csv", "json", "parquet"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File to write (default: stdout; parquet needs a file).")
@click.pass_obj
def export(obj: dict, fmt: str, output: str | None) -> None:
    """Export the runs table as csv, json or parquet."""
    if output is None:
        if fmt == "parquet":
            raise click.UsageError("parquet export needs --output FILE")
        frame = api.runs(db=obj["db"])
        click.echo(frame.to_csv(index=False) if fmt == "csv" else frame_json(frame))
        return
    path = api.export(output, format=fmt, db=obj["db"])
    click.echo(f"wrote {path}", err=True)


@cli.command()
@click.pass_obj
def doctor(obj: dict) -> None:
    """Check the store's integrity; mark runs of killed kernels as interrupted."""
    from .config import resolve_settings

    click.echo(f"store: {resolve_settings(obj['db']).db_path}")
    checks = api.doctor(db=obj["db"])
    for check in checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        sys.exit(1)


def _echo_frame(frame: Any, fmt: str, empty: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame_json(frame))
    elif frame.empty:
        click.echo(empty)
    else:
        click.echo(frame.to_string(index=False, na_rep="-"))


def _run_dict(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id, "experiment": run.experiment, "name": run.name, "status": run.status,
        "start": run.start, "end": run.end, "duration": run.duration, "source": run.source,
        "params": run.params, "tags": run.tags, "seeds": [s.__dict__ for s in run.seeds],
        "metrics": run.metrics, "metric_steps": run.metric_steps,
        "inputs": [_ref_dict(r) for r in run.inputs], "outputs": [_ref_dict(r) for r in run.outputs],
        "code": run.code, "history": run.history, "environment": run.environment,
        "error": run.error, "warnings": run.warnings,
    }


def _ref_dict(ref: Any) -> dict[str, Any]:
    return {"role": ref.role, "name": ref.name, "source": ref.source, "note": ref.note,
            "fingerprint": ref.fingerprint.to_dict() if ref.fingerprint else None}


def main() -> None:
    cli(prog_name="jupyter-tracker")
