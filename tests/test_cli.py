"""The `jupyter-tracker` command, run as a user runs it, against stores written by the Python API."""

from __future__ import annotations

import csv
import io
import json
import re
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import jupyter_tracker as jt
from jupyter_tracker.store import Store

from conftest import CliResult, damage_all_but_schema, run_cli

pytestmark = pytest.mark.slow  # the command in a subprocess, over a hundred times

BIN = Path(sys.executable).parent


@pytest.fixture
def populated(tracker_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Three script runs: two of churn/train that differ in lr and acc, one of other/eval."""
    monkeypatch.chdir(tmp_path)
    ids = {}
    for key, lr, acc in (("first", 0.01, 0.91), ("second", 0.02, 0.93)):
        with jt.start_run("train", experiment="churn", tags={"model": "rf"}) as run:
            jt.log_params({"lr": lr, "n_estimators": 200})
            jt.log_metrics({"acc": acc, "f1": 0.8})
        ids[key] = run.run_id
    with jt.start_run("eval", experiment="other") as run:
        jt.log_param("threshold", 0.5)
        jt.log_metric("auc", 0.7)
    ids["other"] = run.run_id
    return ids


@pytest.fixture
def chosen_ids(tracker_db: Path) -> list[str]:
    """Runs with chosen ids abc0…, abc1… and def0…, for prefix errors that do not depend on chance."""
    store = Store(tracker_db)
    ids = [prefix + "0" * 28 for prefix in ("abc0", "abc1", "def0")]
    for run_id in ids:
        store.begin_run(run_id, "default", "chosen", "script", 1_700_000_000.0)
    store.close()
    return ids


def assert_clean_failure(result: CliResult, code: int, *fragments: str, usage: bool = False) -> str:
    """A non-zero exit, no traceback, and exactly one 'Error:' line (the only stderr line unless a usage error)."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    if not usage:
        assert lines == errors, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


# ---------------------------------------------------------------------- runs
def test_runs_as_table_shows_short_ids_params_and_metrics(populated, tracker_db):
    # When the runs are listed as a table
    result = run_cli("runs", db=tracker_db)
    # Then there is a header and one line per run, with short ids and values
    assert result.code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:6] == ["run_id", "experiment", "name", "status", "start", "duration"]
    assert [row.split()[0] for row in rows] == [populated[k][:8] for k in ("first", "second", "other")]
    assert "0.91" in rows[0] and "0.93" in rows[1] and "0.7" in rows[2]


def test_runs_as_csv_has_one_row_per_run_with_params_and_metrics(populated, tracker_db):
    # When the runs are listed as csv
    result = run_cli("runs", "--format", "csv", db=tracker_db)
    # Then each row carries the full id, params, final metrics and tags
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["run_id"] for row in rows] == [populated[k] for k in ("first", "second", "other")]
    assert [row["params.lr"] for row in rows] == ["0.01", "0.02", ""]
    assert [row["metrics.acc"] for row in rows] == ["0.91", "0.93", ""]
    assert rows[2]["metrics.auc"] == "0.7" and rows[0]["tags.model"] == "rf"
    assert {row["status"] for row in rows} == {"finished"}


def test_runs_as_json_is_a_list_of_run_objects(populated, tracker_db):
    # When the runs are listed as json
    result = run_cli("runs", "-f", "json", db=tracker_db)
    # Then it parses to one object per run with the documented keys
    assert result.code == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [run["run_id"] for run in runs] == [populated[k] for k in ("first", "second", "other")]
    assert [run["params.lr"] for run in runs] == [0.01, 0.02, None]
    assert [run["metrics.acc"] for run in runs] == [0.91, 0.93, None]
    assert runs[2]["experiment"] == "other" and runs[2]["params.threshold"] == 0.5


def test_runs_filters_by_experiment_and_keeps_the_last_n(populated, tracker_db):
    # When filtering by experiment, with and without --last
    churn = json.loads(run_cli("runs", "--experiment", "churn", "-f", "json", db=tracker_db).stdout)
    latest = json.loads(run_cli("runs", "-e", "churn", "--last", "1", "-f", "json", db=tracker_db).stdout)
    # Then only that experiment's runs, and only the most recent one
    assert [run["run_id"] for run in churn] == [populated["first"], populated["second"]]
    assert [run["run_id"] for run in latest] == [populated["second"]]


def test_runs_of_an_empty_store_says_so(store, tracker_db):
    # Given an existing store without runs
    # When / Then listing says there are none, and succeeds
    result = run_cli("runs", db=tracker_db)
    assert (result.code, result.stdout.strip()) == (0, "no runs")


def test_runs_finds_the_store_of_the_enclosing_project(tmp_path, monkeypatch):
    # Given a project whose store has one run, and a subfolder to work in
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    monkeypatch.chdir(project)
    with jt.start_run("train", db=project / ".jupyter_tracker" / "tracker.db") as run:
        jt.log_metric("acc", 0.5)
    # When runs are listed from the subfolder without --db or JUPYTER_TRACKER_DB
    result = run_cli("runs", "-f", "csv", cwd=project / "notebooks")
    # Then the project's store is read
    assert result.code == 0, result.stderr
    assert [row["run_id"] for row in csv.DictReader(io.StringIO(result.stdout))] == [run.run_id]


# ---------------------------------------------------------------------- show
def test_show_as_table_has_the_run_and_its_values(populated, tracker_db):
    result = run_cli("show", populated["first"][:6], db=tracker_db)
    assert result.code == 0, result.stderr
    assert populated["first"][:8] in result.stdout
    for text in ("train", "churn", "lr", "0.01", "n_estimators", "200", "acc", "0.91"):
        assert text in result.stdout


def test_show_as_csv_lists_sections_keys_and_values(populated, tracker_db):
    result = run_cli("show", populated["first"][:6], "--format", "csv", db=tracker_db)
    assert result.code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout), dtype=str)
    assert list(frame.columns) == ["section", "key", "value"]
    rows = {(section, key): value for section, key, value in frame.itertuples(index=False)}
    assert rows[("run", "run_id")] == populated["first"]
    assert rows[("run", "status")] == "finished"
    assert rows[("param", "lr")] == "0.01" and rows[("param", "n_estimators")] == "200"
    assert rows[("metric", "acc")] == "0.91" and rows[("metric", "f1")] == "0.8"


def test_show_as_json_has_everything_recorded(populated, tracker_db):
    result = run_cli("show", populated["second"][:6], "-f", "json", db=tracker_db)
    assert result.code == 0, result.stderr
    run = json.loads(result.stdout)
    assert (run["run_id"], run["experiment"], run["name"]) == (populated["second"], "churn", "train")
    assert run["params"] == {"lr": 0.02, "n_estimators": 200}
    assert run["metrics"] == {"acc": 0.93, "f1": 0.8}
    assert run["tags"] == {"model": "rf"}
    assert run["source"] == "script" and run["environment"]["python"]


# ------------------------------------------------------------------- compare
def test_compare_as_table_marks_what_differs(populated, tracker_db):
    result = run_cli("compare", populated["first"][:6], populated["second"][:6], db=tracker_db)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("* lr") and "0.01" in line and "0.02" in line for line in lines)
    assert any(line.startswith("* acc") and "0.91" in line and "0.93" in line for line in lines)
    assert any(line.startswith("  n_estimators") for line in lines)  # equal: not marked


def test_compare_as_csv_has_params_and_metrics_sections(populated, tracker_db):
    first, second = populated["first"], populated["second"]
    result = run_cli("compare", first[:6], second[:6], "--format", "csv", db=tracker_db)
    assert result.code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout), index_col=["section", "key"])
    assert frame.loc[("params", "lr"), first[:8]] == 0.01
    assert frame.loc[("params", "lr"), second[:8]] == 0.02
    assert bool(frame.loc[("params", "lr"), "differs"]) is True
    assert bool(frame.loc[("params", "n_estimators"), "differs"]) is False
    assert frame.loc[("metrics", "acc"), f"delta {second[:8]}"] == pytest.approx(0.02)


def test_compare_as_json_has_values_and_deltas(populated, tracker_db):
    first, second = populated["first"], populated["second"]
    result = run_cli("compare", first[:6], second[:6], "-f", "json", db=tracker_db)
    assert result.code == 0, result.stderr
    comparison = json.loads(result.stdout)
    assert comparison["runs"] == [first, second]
    params = {row["key"]: row for row in comparison["params"]}
    assert params["lr"]["values"] == [0.01, 0.02] and params["lr"]["differs"] is True
    assert params["n_estimators"]["differs"] is False
    acc = {row["key"]: row for row in comparison["metrics"]}["acc"]
    assert acc["values"] == [0.91, 0.93] and acc["deltas"][1] == pytest.approx(0.02)


# -------------------------------------------------------------------- export
@pytest.mark.parametrize("fmt, read", [("csv", pd.read_csv), ("json", pd.read_json), ("parquet", pd.read_parquet)])
def test_export_writes_one_row_per_run(populated, tracker_db, tmp_path, fmt, read):
    # When the runs are exported to a file
    out = tmp_path / f"runs.{fmt}"
    result = run_cli("export", "--format", fmt, "-o", str(out), db=tracker_db)
    # Then the file reads back with one row per run and their values
    assert result.code == 0, result.stderr
    frame = read(out)
    assert frame["run_id"].tolist() == [populated[k] for k in ("first", "second", "other")]
    assert frame["metrics.acc"].tolist()[:2] == [0.91, 0.93]
    assert frame["params.threshold"].tolist()[2] == 0.5


# -------------------------------------------------------------------- doctor
def test_doctor_passes_on_a_healthy_store(populated, tracker_db):
    result = run_cli("doctor", db=tracker_db)
    assert result.code == 0, result.stdout + result.stderr
    checks = result.stdout.splitlines()[1:]
    assert checks and all(line.startswith("ok ") for line in checks), result.stdout
    assert "3 runs, 0 running" in result.stdout


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("args", [["show", "0123"], ["compare", "abc0", "0123"]])
def test_unknown_run_id_is_one_error_line(chosen_ids, tracker_db, args):
    result = run_cli(*args, db=tracker_db)
    assert_clean_failure(result, 3, "no run matches '0123'")


@pytest.mark.parametrize("args", [["show", "abc"], ["compare", "abc", "def"]])
def test_ambiguous_prefix_is_one_error_line_naming_the_candidates(chosen_ids, tracker_db, args):
    result = run_cli(*args, db=tracker_db)
    assert_clean_failure(result, 3, "'abc' is ambiguous", chosen_ids[0][:12], chosen_ids[1][:12])


@pytest.mark.parametrize("args", [
    ["runs"], ["show", "abc"], ["compare", "abc", "def"], ["export", "-o", "out.csv"], ["doctor"],
])
def test_read_commands_on_a_missing_store_fail_without_creating_it(tmp_path, args):
    # Given a store path that does not exist
    missing = tmp_path / "nowhere" / "tracker.db"
    # When a read command is pointed at it
    result = run_cli(*args, db=missing, cwd=tmp_path)
    # Then one error line names it, and neither the store, its folder nor an output file appears
    assert_clean_failure(result, 4, f"no store at {missing}")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_read_command_without_any_store_does_not_create_one_in_the_working_directory(tmp_path):
    # Given a working directory without a store, and no JUPYTER_TRACKER_DB
    if any((folder / ".jupyter_tracker").is_dir() for folder in tmp_path.parents):
        pytest.skip("an ancestor of the temporary directory holds a .jupyter_tracker folder")
    # When / Then runs fails cleanly and leaves the directory empty
    result = run_cli("runs", cwd=tmp_path)
    assert_clean_failure(result, 4, "no store at", ".jupyter_tracker")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, message", [(random.Random(0).randbytes(8192), "not an SQLite file"),
                                              (b"", "is an empty file, not a store")], ids=["random", "empty"])
@pytest.mark.parametrize("args", [["runs"], ["show", "abc"], ["doctor"]])
def test_corrupt_store_is_one_error_line_and_left_untouched(tmp_path, args, content, message):
    # Given a store file full of random bytes, or empty
    path = tmp_path / "tracker.db"
    path.write_bytes(content)
    # When / Then a read command fails with one line, and the folder is unchanged
    result = run_cli(*args, db=path)
    assert_clean_failure(result, 4, str(path), message)
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["tracker.db"]


def damage_after_first_page(path: Path) -> None:
    damage_all_but_schema(path)  # the schema's pages survive (more than the first since schema v4)


DAMAGED_STORE_COMMANDS = [["runs"], ["show", "abc0"], ["compare", "abc0", "abc1"], ["export"], ["registry"],
                          ["promote", "abc0", "--force"], ["rollback"],
                          ["rerun", "abc0"], ["doctor", "--interrupted", "abc0"]]


@pytest.mark.parametrize("args", DAMAGED_STORE_COMMANDS, ids=lambda args: "-".join(args))
def test_every_command_on_a_damaged_store_is_one_error_line_and_writes_nothing(populated, tracker_db, args):
    # Given a store whose pages after the schema's are overwritten
    with sqlite3.connect(tracker_db) as conn:  # fold the WAL into the file first
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    damage_after_first_page(tracker_db)
    before = tracker_db.read_bytes()
    # When a command reads or writes it
    result = run_cli(*args, db=tracker_db)
    # Then doctor reports the damage and how to recover (exit 1); every other command is one error line
    if args[0] == "doctor":
        assert result.code == 1 and "Traceback" not in result.stdout + result.stderr
        assert "FAIL integrity: " in result.stdout and "malformed" in result.stdout
        assert 'FAIL recover: the store is read-only until it is replaced' in result.stdout
        assert '".recover" | sqlite3' in result.stdout
    else:
        assert_clean_failure(result, 4, f"store {tracker_db} is damaged (database disk image is malformed)",
                             "doctor` for how to recover")
    # And the file is as it was
    assert tracker_db.read_bytes() == before


@pytest.mark.parametrize("command", ["rerun", "batch"])
def test_a_store_damaged_where_no_read_looks_is_refused_before_any_execution(tracker_db, tmp_path, command):
    # Given a store damaged in one page of metric points, and a run that still reads fine
    from conftest import damaged_in_one_page

    run_id = damaged_in_one_page(tracker_db)
    before = tracker_db.read_bytes()
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert run_cli("show", run_id[:8], db=tracker_db).code == 0
    # When it is rerun, or a batch would record into the store
    args = ["rerun", run_id[:8]] if command == "rerun" else ["batch", str(notebook)]
    result = run_cli(*args, db=tracker_db)
    # Then SQLite's check refuses it before any kernel starts, and the file is as it was
    assert_clean_failure(result, 4, f"store {tracker_db} is damaged (", "doctor` for how to recover")
    assert tracker_db.read_bytes() == before
    assert not (tracker_db.parent / "reruns").exists()


@pytest.mark.parametrize("args, fragment", [
    (["runs", "--format", "xml"], "'xml' is not one of"),
    (["runs", "--last", "0"], "0 is not in the range x>=1"),
    (["show", "abc", "--format", "yaml"], "'yaml' is not one of"),
    (["export", "--format", "parquet"], "parquet export needs --output"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["runs", "--last", "9" * 5000], "is not a valid integer"),
    # (repeat 0 or 10**20, and an rtol of nan: the table of every command's bad input, below)
    (["rerun", "abc0", "--workers", "5000"], "5000 is not in the range 1<=x<=1024"),
    (["rerun", "abc0", "--timeout", "0"], "0 is not in the range 1<=x<=1000000000"),
    (["rerun", "abc0", "--atol", "-1"], "-1.0 is not in the range x>=0"),
    (["push", "http://127.0.0.1:1", "--workers", "0"], "0 is not in the range"),
])
def test_bad_option_is_a_usage_error(chosen_ids, tracker_db, args, fragment):
    result = run_cli(*args, db=tracker_db)
    assert_clean_failure(result, 2, fragment, usage=True)


def test_compare_needs_two_runs(chosen_ids, tracker_db):
    result = run_cli("compare", "abc0", db=tracker_db)
    assert_clean_failure(result, 2, "compare needs at least two different run ids")
    result = run_cli("compare", "abc0", "abc0", "ABC0", db=tracker_db)  # repeats count once
    assert_clean_failure(result, 2, "compare needs at least two different run ids")
    result = run_cli("compare", *[f"{i:04x}" for i in range(51)], db=tracker_db)
    assert_clean_failure(result, 2, "at most 50 runs can be compared at once, not 51")


def test_a_huge_last_means_every_run_and_a_huge_prefix_is_one_short_line(chosen_ids, tracker_db):
    result = run_cli("runs", "--last", "9" * 30, "--format", "json", db=tracker_db)
    assert result.code == 0 and len(json.loads(result.stdout)) == len(chosen_ids)
    result = run_cli("show", "a" * 100_000, db=tracker_db)
    assert len(assert_clean_failure(result, 3, "no run matches 'aaaa")) < 200


# --------------------------------------------------------------- entry points
def test_jupyter_tracker_and_jupyter_tracker_subcommand_show_help():
    # Given the installed console script, and jupyter on PATH
    assert (BIN / "jupyter-tracker").is_file()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    # When help is asked for both ways
    results = [subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
               for command in (["jupyter-tracker", "--help"], ["jupyter", "tracker", "--help"])]
    # Then both succeed and list the commands
    for done in results:
        assert done.returncode == 0, done.stderr
        assert all(command in done.stdout for command in ("runs", "show", "compare", "export", "doctor"))


# ------------------------------------------------------------ safe output (issue 13)
HOSTILE_NAME = "train\x1b]0;pwned\x07\x1b[2J\x1b[31m\u202eevil\x9b"
FORMULA = "=HYPERLINK(\"http://attacker\",\"x\")"


@pytest.fixture
def hostile_runs(tracker_db, tmp_path, monkeypatch) -> list[str]:
    """Two runs whose name, param and tag hold terminal escapes, a bidi override and spreadsheet formulas."""
    monkeypatch.chdir(tmp_path)
    ids = []
    for value in (1, 2):
        with jt.start_run(HOSTILE_NAME) as run:
            jt.log_param("cmd", FORMULA)
            jt.log_param("n", value)
            jt.set_tag("note", "@SUM(A1:A9)\x1b[?25l")
            jt.log_metric("loss", -0.5 * value)
        ids.append(run.run_id)
    return ids


@pytest.mark.parametrize("command", [["runs"], ["show", "{a}"], ["compare", "{a}", "{b}"]], ids=lambda c: c[0])
def test_terminal_output_shows_control_characters_and_bidi_overrides_as_escapes(hostile_runs, tracker_db, command):
    # When a table is printed for a person at a terminal
    a, b = (run_id[:8] for run_id in hostile_runs)
    result = run_cli(*[part.format(a=a, b=b) for part in command], db=tracker_db)
    assert result.code == 0, result.stderr
    # Then no control character nor bidi override reaches the terminal; each is shown as an escape
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", result.stdout)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in result.stdout and "\\u202eevil\\x9b" in result.stdout


def test_an_error_naming_a_hostile_input_is_escaped_too(hostile_runs, tracker_db):
    result = run_cli("show", "\x1b[2J", db=tracker_db)
    assert result.code == 3 and "\x1b" not in result.stderr and "\\x1b[2j" in result.stderr


def test_json_keeps_hostile_values_exact(hostile_runs, tracker_db):
    shown = json.loads(run_cli("show", hostile_runs[0][:8], "-f", "json", db=tracker_db).stdout)
    assert shown["name"] == HOSTILE_NAME and shown["params"]["cmd"] == FORMULA
    assert shown["tags"]["note"] == "@SUM(A1:A9)\x1b[?25l"


@pytest.mark.parametrize("command", [["export"], ["runs", "-f", "csv"], ["show", "{a}", "-f", "csv"],
                                     ["compare", "{a}", "{b}", "-f", "csv"]], ids=lambda c: "-".join(c[:1]))
def test_csv_neutralises_formulas_unless_asked_and_leaves_numbers_alone(hostile_runs, tracker_db, command):
    import csv
    import io

    a, b = (run_id[:8] for run_id in hostile_runs)
    args = [part.format(a=a, b=b) for part in command]
    # When the runs are written as CSV, by default and with --csv-formulas
    safe = [cell for row in csv.reader(io.StringIO(run_cli(*args, db=tracker_db).stdout)) for cell in row]
    raw = [cell for row in csv.reader(io.StringIO(run_cli(*args, "--csv-formulas", db=tracker_db).stdout))
           for cell in row]
    # Then by default no cell starts as a formula would (= + - @), each such text cell has a leading '
    assert "'" + FORMULA in safe and not any(cell.startswith(("=", "+", "@")) for cell in safe)
    assert any(cell.startswith("'@SUM(A1:A9)") for cell in safe) or command[0] == "compare"  # (no tags there)
    # And the negative metric stays a number; --csv-formulas keeps every value exact
    assert "-0.5" in safe and "'-0.5" not in safe
    assert FORMULA in raw and "'" + FORMULA not in raw


def test_export_to_a_file_neutralises_formulas_too(hostile_runs, tracker_db, tmp_path):
    out = tmp_path / "runs.csv"
    assert run_cli("export", "-o", str(out), db=tracker_db).code == 0
    assert "'" + FORMULA.replace('"', '""') in out.read_text()
    assert "'" + FORMULA.replace('"', '""') in (jt.export(tmp_path / "api.csv", db=tracker_db)).read_text()


def test_json_output_is_strict_and_keeps_infinities_apart_from_nan(tracker_db, tmp_path, monkeypatch):
    # Given a run whose metrics are NaN, +Inf and -Inf
    monkeypatch.chdir(tmp_path)
    with jt.start_run("edge") as run:
        jt.log_metrics({"missing": float("nan"), "up": float("inf"), "down": float("-inf")})
        jt.log_param("limit", float("inf"))
    # When every JSON output is read by a strict parser
    def strict(text: str) -> object:
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON output"))
    listed = strict(run_cli("runs", "-f", "json", db=tracker_db).stdout)[0]
    shown = strict(run_cli("show", run.run_id[:8], "-f", "json", db=tracker_db).stdout)
    exported = strict(run_cli("export", "-f", "json", db=tracker_db).stdout)[0]
    # Then the non-finite numbers are named; in a table (runs, export) an empty cell, as NaN is, is null
    for row in (listed, exported):
        assert (row["metrics.missing"], row["metrics.up"], row["metrics.down"]) == (None, "Infinity", "-Infinity")
    assert shown["metrics"] == {"missing": "NaN", "up": "Infinity", "down": "-Infinity"}
    assert shown["params"]["limit"] == "Infinity"


# ------------------------------------------------ every command, bad input (issue 10)
@pytest.fixture
def bad_inputs(chosen_ids: list[str], tmp_path: Path) -> dict[str, str]:
    """What the table below names: a plain file, a folder, a notebook, and a .ipynb file that is no notebook."""
    (tmp_path / "plain.txt").write_text("not a folder\n")
    (tmp_path / "folder.ipynb").mkdir()
    (tmp_path / "text.ipynb").write_text("not json\n")
    (tmp_path / "cells.ipynb").write_text('{"nbformat": 4}')
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "empty.ipynb").write_text(json.dumps(notebook))
    return {"tmp": str(tmp_path), "file": str(tmp_path / "plain.txt"), "nb": str(tmp_path / "empty.ipynb")}


# (args, exit code, a fragment of the error line, whether it is a click usage error). Runs abc0…, abc1…
# and def0… are running, begun by the test process itself: alive on this host.
BAD_INPUTS = [
    (["runs", "--last", "-1"], 2, "-1 is not in the range x>=1", True),
    (["runs", "--experiment"], 2, "Option '--experiment' requires an argument", True),
    (["show", ""], 3, "no run matches ''", False),
    (["show", "abc0", "abc1"], 2, "Got unexpected extra argument (abc1)", True),
    (["compare", "abc0", "ffff"], 3, "no run matches 'ffff'", False),
    (["compare", "abc", "def0"], 3, "'abc' is ambiguous", False),
    (["export", "-o", "{tmp}/missing/runs.csv"], 2, "folder '{tmp}/missing' does not exist", True),
    (["export", "-o", "{file}/runs.csv"], 2, "'{file}' is a file, not a folder", True),
    (["export", "-o", "{tmp}"], 2, "is a directory", True),
    (["export", "-f", "xlsx", "-o", "{tmp}/runs.xlsx"], 2, "'xlsx' is not one of", True),
    (["doctor", "--interrupted", "ffff"], 3, "no run matches 'ffff'", False),
    (["doctor", "--interrupted", "abc0"], 2, "is still running: its process", False),
    (["doctor", "--host-down", "no-such-host"], 2, "no running run was recorded on host 'no-such-host'", False),
    (["rerun", "ffff"], 3, "no run matches 'ffff'", False),
    (["rerun", "abc0"], 2, "recorded by a script, not a tracked cell", False),
    (["rerun", "abc0", "--repeat", "0"], 2, "0 is not in the range 1<=x<=100000", True),
    (["rerun", "abc0", "--repeat", "99999999999999999999"], 2, "not in the range 1<=x<=100000", True),
    (["rerun", "abc0", "--workers", "0"], 2, "0 is not in the range 1<=x<=1024", True),
    (["rerun", "abc0", "--timeout", "2.5"], 2, "'2.5' is not a valid integer", True),
    (["rerun", "abc0", "--rtol", "nan"], 2, "nan is not a finite number", True),
    (["batch", "{tmp}/missing.ipynb"], 2, "missing.ipynb does not exist", False),
    (["batch", "{file}"], 2, "is not a notebook (.ipynb)", False),
    (["batch", "{tmp}/folder.ipynb"], 2, "is a directory", True),
    (["batch", "{tmp}/text.ipynb"], 2, "is not a notebook: it does not hold JSON", True),
    (["batch", "{tmp}/cells.ipynb"], 2, "is not a notebook: its JSON has no list of cells", True),
    (["batch", "{nb}", "-p", "depth"], 2, "Option '-p' requires 2 arguments", True),
    (["batch", "{nb}", "-p", "1depth", "3"], 2, "parameter name '1depth' is not a Python name", False),
    (["batch", "{nb}", "--grid", "depth"], 2, "--grid expects NAME=V1,V2,...", False),
    (["batch", "{nb}", "--grid", "depth=1", "--grid", "depth=2"], 2, "--grid names 'depth' twice", False),
    (["batch", "{nb}", "--repeat", "-1"], 2, "-1 is not in the range 1<=x<=100000", True),
    (["batch", "{nb}", "--repeat", "60000", "--grid", "depth=1,2"], 2,
     "would run 120,000 executions (2 combinations x 60000 repeats): at most 100,000", False),
    (["batch", "{nb}", "--workers", "0"], 2, "0 is not in the range 1<=x<=1024", True),
    (["batch", "{nb}", "--output-dir", "{file}"], 2, "is a file", True),
    (["batch", "{nb}", "--output-dir", "{file}/executed"], 2, "'{file}' is a file, not a folder", True),
    (["batch", "{nb}", "--html", "{tmp}/missing/report.html"], 2, "folder '{tmp}/missing' does not exist", True),
    (["batch", "{nb}", "--timeout", "0"], 2, "0 is not in the range", True),
    (["report", "ffff"], 2, "no runs belong to batch 'ffff'", False),
    (["report", "ffff", "--html", "{file}/report.html"], 2, "'{file}' is a file, not a folder", True),
    (["registry", "--format", "xml"], 2, "'xml' is not one of", True),
    (["promote", "ffff"], 3, "no run matches 'ffff'", False),
    (["promote", "abc0"], 3, "has no model 'model'", False),
    (["promote", "abc0", "--psi", "-1"], 2, "-1.0 is not in the range x>=0", True),
    (["rollback"], 3, "nothing has been promoted to 'production' for model 'model'", False),
    (["rollback", "--stage", "no stage"], 2, "the stage must be a word", False),
    (["validate", "abc0", "--baseline", "abc1", "--rule", "garbage"], 2, "malformed rule 'garbage'", False),
    (["validate", "abc0", "--baseline", "ffff"], 3, "no run matches 'ffff'", False),
    (["validate", "abc0", "--ks", "inf"], 2, "inf is not a finite number", True),
    (["push"], 2, "", True),
    (["--db", "{tmp}", "runs"], 2, "is a directory", True),
    (["--db", "{file}/tracker.db", "runs"], 4, "cannot read store {file}/tracker.db: Not a directory", False),
    (["--db", "{file}", "show", "abc0"], 4, "is not an SQLite file", False),
]


@pytest.mark.parametrize("args, code, fragment, usage", BAD_INPUTS, ids=[" ".join(c[0]) for c in BAD_INPUTS])
def test_bad_input_to_any_command_is_one_error_line_and_a_non_zero_exit(bad_inputs, tracker_db, args, code,
                                                                       fragment, usage):
    # When a command is given a bad input
    result = run_cli(*[arg.format(**bad_inputs) for arg in args], db=tracker_db, cwd=Path(bad_inputs["tmp"]))
    # Then one line says what is wrong (click's usage errors keep their Usage/Try lines) and nothing ran
    line = assert_clean_failure(result, code, fragment.format(**bad_inputs), usage=usage)
    if usage:
        assert all(other.startswith(("Usage:", "Try ")) or not other.strip()
                   for other in result.stderr.splitlines() if other != line), result.stderr
    assert not list(Path(bad_inputs["tmp"]).glob("batch-*"))


def test_the_bad_input_table_covers_every_command():
    from jupyter_tracker.cli import cli

    assert set(cli.commands) <= {args[0] for args, *_ in BAD_INPUTS}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, a file whose writes fail")
def test_a_write_failing_midway_is_one_line_naming_the_file(populated, tracker_db):
    # Given an output file that opens but cannot be written to (a full disk)
    # When the runs are exported to it
    result = run_cli("export", "-o", "/dev/full", db=tracker_db)
    # Then one line names the file and says why
    assert_clean_failure(result, 2, "/dev/full: No space left on device")


def test_a_huge_last_means_every_run(populated, tracker_db):
    result = run_cli("runs", "--last", str(10 ** 20), "-f", "csv", db=tracker_db)
    assert result.code == 0, result.stderr
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 3


def test_output_cut_short_by_its_reader_ends_quietly(tracker_db, tmp_path):
    # Given a store with more runs than a pipe holds as csv
    from helpers import record_run as record_server_run

    store = Store(tracker_db)
    for _ in range(100):
        record_server_run(store, "wide", params={"text": "x" * 2000})
    store.close()
    # When its reader stops after the first line (`jupyter-tracker runs -f csv | head -1`)
    env = {**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db)}
    process = subprocess.Popen([sys.executable, "-m", "jupyter_tracker", "runs", "-f", "csv"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"run_id,")
    process.stdout.close()
    stderr = process.stderr.read().decode()
    # Then the command stops without a traceback or a complaint (click's own handling of a broken pipe)
    process.wait(timeout=60)
    assert stderr == ""


# ----------------------------------------- doctor: nothing lost, nothing stuck (issue 10)
def running_elsewhere(tracker_db: Path, host: str, count: int) -> list[str]:
    """Runs recorded as running on another machine (as a Dask worker's store brings them back)."""
    from helpers import EPOCH

    store = Store(tracker_db)
    ids = []
    for index in range(count):
        run = jt.Run(run_id=f"{len(host):x}{index:x}".ljust(32, "e"), experiment="remote", name="fit",
                     status="running", start=EPOCH + index, end=None, duration=None, source="cell",
                     environment={"host": host})
        store.import_run(run)
        ids.append(run.run_id)
    store.close()
    return ids


def test_doctor_marks_runs_of_other_hosts_interrupted_only_when_told(chosen_ids, tracker_db):
    # Given runs still running on two other hosts, and three running here in a live process (this one)
    (one,) = running_elsewhere(tracker_db, "gpu-box-1", 1)
    two = running_elsewhere(tracker_db, "gpu-box-22", 2)
    # When doctor checks the store without being told more
    result = run_cli("doctor", db=tracker_db)
    # Then it marks nothing, and says which runs of other hosts it cannot check
    assert result.code == 0, result.stdout + result.stderr
    assert "6 runs, 6 running; 3 running on other hosts, whose processes cannot be checked from here" in result.stdout
    assert f"gpu-box-1: {one[:8]}; gpu-box-22: {two[0][:8]}, {two[1][:8]}" in result.stdout
    # When told that one run's process is gone, and that one host is down
    result = run_cli("doctor", "--interrupted", one[:6], "--host-down", "gpu-box-22", db=tracker_db)
    # Then exactly those runs are interrupted, saying so; the live local runs are left running
    assert result.code == 0, result.stdout + result.stderr
    assert "marked 3 run(s) interrupted as asked" in result.stdout
    statuses = {run_id: jt.get_run(run_id, db=tracker_db) for run_id in [one, *two, *chosen_ids]}
    assert [statuses[r].status for r in [one, *two]] == ["interrupted"] * 3
    assert "the process recording it on gpu-box-22 was reported gone" in statuses[two[0]].error
    assert [statuses[r].status for r in chosen_ids] == ["running"] * 3
    assert "3 running" in run_cli("doctor", db=tracker_db).stdout


def test_a_reader_that_cannot_mark_a_killed_run_warns_in_one_line_and_still_answers(tracker_db):
    # Given a run whose process has ended, and another process holding the store's write lock
    code = ("import sys; from jupyter_tracker.store import Store; "
            "Store(sys.argv[1]).begin_run('dead' + '0' * 28, 'default', 'doomed', 'script', 1.7e9)")
    subprocess.run([sys.executable, "-c", code.replace("dead", "dead"), str(tracker_db)], check=True)
    holder = sqlite3.connect(tracker_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # When the runs are listed
        result = run_cli("runs", "-f", "csv", db=tracker_db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Then they are, and one warning line says why the run still shows as running
    assert result.code == 0, result.stderr
    assert [row["status"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["running"]
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("jupyter_tracker warning: cannot mark runs of killed processes interrupted")
    assert "database is locked" in warning
