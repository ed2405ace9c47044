"""The store through real SQLite files and real processes: where it lives, what it holds,
what it refuses, and what many writers and killed owners leave behind."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import sqlite_utils

import jupyter_tracker as jt
from jupyter_tracker.config import resolve_settings
from jupyter_tracker.errors import AmbiguousRunId, RunNotFound, StoreDamaged, StoreError
from jupyter_tracker.capture.recorder import Recorder
from jupyter_tracker.records import MetricPoint, Run
from jupyter_tracker.store import Store
from jupyter_tracker.store.schema import SCHEMA_VERSION, migrate

from conftest import REPO, damage_all_but_schema

START = 1_700_000_000.0  # a fixed clock: run order comes from the test, not from time.sleep


def record_run(
    store: Store,
    name: str,
    experiment: str | None = None,
    *,
    start: float = START,
    params: dict | None = None,
    metrics: dict | None = None,
    tags: dict | None = None,
    code: str = "x = 1",
    history: list[str] | None = None,
) -> str:
    """One finished run written through the recorder, as a tracked cell writes it."""
    recorder = Recorder(store, name, experiment, tags=tags, clock=lambda: start)
    recorder.log_params(params or {})
    recorder.log_metrics(metrics or {})
    recorder.finish("finished", code=code, history=history)
    return recorder.run_id


def chosen_id(prefix: str) -> str:
    return prefix + "0" * (32 - len(prefix))


def begin(store: Store, run_id: str, name: str = "chosen") -> str:
    store.begin_run(run_id, "default", name, "script", START)
    return run_id


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_state(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir())}


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def documented_tables() -> dict[str, set[str]]:
    """Table -> column names, read from the table in docs/schema.md."""
    tables = {}
    for line in (REPO / "docs" / "schema.md").read_text().splitlines():
        match = re.match(r"\| `(\w+)` \| [^|]+ \| (.+) \|$", line)
        if not match:
            continue
        columns = match.group(2)
        while re.search(r"\([^()]*\)", columns):
            columns = re.sub(r"\([^()]*\)", "", columns)  # descriptions, possibly nested
        columns = re.sub(r"→\s*`\w+`", "", columns)  # foreign-key targets
        tables[match.group(1)] = set(re.findall(r"`(\w+)`", columns))
    return tables


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_TRACKER_DB", raising=False)


# ------------------------------------------------------------------ location
def test_explicit_path_wins_over_the_environment(tmp_path, monkeypatch):
    # Given JUPYTER_TRACKER_DB and a .jupyter_tracker folder in the working directory
    monkeypatch.setenv("JUPYTER_TRACKER_DB", str(tmp_path / "from-env.db"))
    (tmp_path / ".jupyter_tracker").mkdir()
    monkeypatch.chdir(tmp_path)
    # When an explicit path is given
    settings = resolve_settings(tmp_path / "explicit.db")
    # Then it is used, with artifacts beside it
    assert settings.db_path == tmp_path / "explicit.db"
    assert settings.artifacts_dir == tmp_path / "artifacts"


def test_environment_wins_over_the_nearest_store_folder(tmp_path, monkeypatch):
    # Given a .jupyter_tracker folder in the working directory and JUPYTER_TRACKER_DB
    (tmp_path / ".jupyter_tracker").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUPYTER_TRACKER_DB", str(tmp_path / "elsewhere" / "runs.db"))
    # When / Then the environment decides
    assert resolve_settings().db_path == tmp_path / "elsewhere" / "runs.db"


def test_nearest_ancestor_with_a_store_folder_is_used(tmp_path, monkeypatch, no_env):
    # Given an outer and an inner project, each with a .jupyter_tracker folder
    (tmp_path / ".jupyter_tracker").mkdir()
    project = tmp_path / "project"
    (project / ".jupyter_tracker").mkdir(parents=True)
    deep = project / "notebooks" / "deep"
    deep.mkdir(parents=True)
    # When working two levels below the inner project
    monkeypatch.chdir(deep)
    # Then the inner (nearest) project's store is used
    assert resolve_settings().db_path == project / ".jupyter_tracker" / "tracker.db"
    assert resolve_settings().artifacts_dir == project / ".jupyter_tracker" / "artifacts"


def test_without_a_store_folder_the_working_directory_is_used(tmp_path, monkeypatch, no_env):
    # Given no .jupyter_tracker folder in the working directory or any ancestor
    if any((folder / ".jupyter_tracker").is_dir() for folder in tmp_path.parents):
        pytest.skip("an ancestor of the temporary directory holds a .jupyter_tracker folder")
    monkeypatch.chdir(tmp_path)
    # When / Then the store goes to .jupyter_tracker/tracker.db in the working directory
    assert resolve_settings().db_path == tmp_path / ".jupyter_tracker" / "tracker.db"


def test_a_script_in_a_subfolder_records_into_the_projects_store(tmp_path, monkeypatch, no_env):
    # Given a project with a store folder, and a script running in a subfolder
    (tmp_path / ".jupyter_tracker").mkdir()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    monkeypatch.chdir(scripts)
    # When a run is recorded without naming a store
    with jt.start_run("located"):
        jt.log_metric("acc", 0.5)
    # Then it lands in the project's store and nothing is created in the subfolder
    assert not (scripts / ".jupyter_tracker").exists()
    frame = Store(tmp_path / ".jupyter_tracker" / "tracker.db", create=False).runs_frame()
    assert frame["name"].tolist() == ["located"]


# -------------------------------------------------------------- file format
def test_store_opens_in_sqlite_utils_with_the_documented_tables(store, tracker_db):
    # Given a store with one run
    record_run(store, "train", params={"lr": 0.1}, metrics={"acc": 0.9})
    # When the file is opened with sqlite-utils
    db = sqlite_utils.Database(tracker_db)
    try:
        # Then its tables and columns are exactly those docs/schema.md describes
        documented = documented_tables()
        assert set(db.table_names()) == set(documented)
        for table, columns in documented.items():
            assert set(db[table].columns_dict) == columns, table
        assert db["runs"].count == 1 and db["latest_metrics"].count == 1
    finally:
        db.close()


def test_store_is_in_wal_mode_with_the_schema_version_stamped(store, tracker_db):
    # Given a freshly created store
    # When its pragmas are read by another connection
    with sqlite3.connect(tracker_db) as conn:
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    # Then it is WAL, stamped with the current version, which the docs state
    documented = re.search(r"currently (\d+)", (REPO / "docs" / "schema.md").read_text())
    assert journal_mode == "wal"
    assert user_version == SCHEMA_VERSION == store.schema_version == int(documented.group(1))


def test_version_1_store_is_migrated_on_open_and_keeps_its_data(tmp_path):
    # Given a file at schema version 1 with a run, a param and metric series
    path = tmp_path / "old.db"
    run_id = chosen_id("01d")
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO runs (run_id, experiment, name, status, source, start_time, end_time, duration)"
        " VALUES (?, 'churn', 'train', 'finished', 'script', ?, ?, 1.0)", (run_id, START, START + 1))
    conn.execute("INSERT INTO params (run_id, key, value) VALUES (?, 'lr', '0.01')", (run_id,))
    conn.executemany(
        "INSERT INTO metrics (run_id, key, seq, step, value, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, "loss", 0, 0, 0.9, START), (run_id, "loss", 1, 1, 0.5, START),
         (run_id, "loss", 2, 2, 0.25, START), (run_id, "acc", 0, None, 0.8, START)])
    conn.close()
    # When it is opened
    store = Store(path, create=False)
    # Then it is at the current version, in WAL mode, with final metrics backfilled
    assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert check.execute("SELECT key, value, step, points FROM latest_metrics ORDER BY key").fetchall() == [
            ("acc", 0.8, None, 1), ("loss", 0.25, 2, 3)]
    run = store.get_run(run_id[:6])
    assert (run.name, run.status, run.params) == ("train", "finished", {"lr": 0.01})
    assert run.metrics == {"acc": 0.8, "loss": 0.25}
    assert run.metric_steps == {"acc": 1, "loss": 3}
    assert store.runs_frame()["metrics.loss"].tolist() == [0.25]


def make_empty(path: Path) -> str:
    path.write_bytes(b"")  # a 0-byte file (a failed copy, `touch`): refused, never made into a store
    return "is an empty file, not a store"


def make_random_bytes(path: Path) -> str:
    path.write_bytes(random.Random(0).randbytes(8192))
    return "is not an SQLite file"


def make_damaged_header(path: Path) -> str:
    path.write_bytes(b"SQLite format 3\x00" + random.Random(1).randbytes(8192))
    return "file is not a database"


def make_foreign(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (name TEXT, age INTEGER)")
        conn.execute("INSERT INTO people VALUES ('ada', 36)")
    conn.close()
    return "not a jupyter_tracker store"


def make_newer(path: Path) -> str:
    Store(path).close()  # a real store (WAL mode), as a newer jupyter_tracker leaves it
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    return f"schema version {SCHEMA_VERSION + 1}, newer than this jupyter_tracker supports"


@pytest.mark.parametrize("make", [make_empty, make_random_bytes, make_damaged_header, make_foreign, make_newer],
                         ids=["empty", "random-bytes", "damaged-header", "foreign-sqlite", "newer-version"])
@pytest.mark.parametrize("create", [True, False], ids=["writer", "reader"])
def test_unusable_file_is_refused_with_a_clear_error_and_left_untouched(tmp_path, make, create):
    # Given a file that is not a usable store
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "tracker.db"
    message = make(path)
    before = folder_state(folder)
    # When it is opened, by a writer or a reader
    with pytest.raises(StoreError, match=re.escape(message)) as refused:
        Store(path, create=create)
    # Then the error names the file, and the folder holds the same bytes as before
    assert str(path) in str(refused.value)
    assert folder_state(folder) == before


def damaged_store(tmp_path: Path) -> tuple[Path, list[str]]:
    """A store of 30 runs whose pages other than the schema's are overwritten (since schema v4 the
    schema no longer fits in page 1 alone), and its run ids."""
    path = tmp_path / "tracker.db"
    store = Store(path)
    ids = [record_run(store, "train", params={"i": i}, metrics={"acc": i / 10}, code=f"x = {i}") for i in range(30)]
    store.close()
    damage_all_but_schema(path)
    return path, ids


def test_a_store_found_damaged_refuses_every_read_and_write_after_and_is_left_untouched(tmp_path):
    # Given a damaged store, opened (its schema pages are sound)
    path, ids = damaged_store(tmp_path)
    before = path.read_bytes()
    damaged = Store(path, create=False)
    # When a read meets a damaged page, then it is one StoreDamaged naming the file and the way out
    with pytest.raises(StoreDamaged, match=r"is damaged \(database disk image is malformed\).*doctor"):
        damaged.runs_frame()
    # And from then on every read and every write is refused the same way, none touching the file
    refused = [lambda: damaged.get_run(ids[0]), damaged.count_runs, lambda: damaged.runs_page(),
               lambda: begin(damaged, chosen_id("abc0")), lambda: damaged.link_rerun(ids[0], ids[1]),
               lambda: damaged.append_metrics(ids[0], [MetricPoint("acc", 1.0, None, 0.0)]),
               damaged.mark_interrupted]
    for call in refused:
        with pytest.raises(StoreDamaged):
            call()
    damaged.close()
    assert path.read_bytes() == before


def test_the_integrity_check_finds_damage_before_any_write(tmp_path):
    # Given a damaged store that a new process opens
    path, _ = damaged_store(tmp_path)
    store = Store(path, create=False)
    # When the writers that run long (rerun, batch) check it first, then it is refused
    with pytest.raises(StoreDamaged, match="doctor"):
        store.check_integrity()
    with pytest.raises(StoreDamaged):
        begin(store, chosen_id("abc0"))
    # And doctor reports the damage and how to recover, instead of raising
    checks = Store(path, create=False).doctor()
    assert [c.name for c in checks if not c.ok] == ["integrity", "recover"]
    assert "malformed" in checks[0].detail
    assert f'sqlite3 {path} ".recover" | sqlite3 {tmp_path / "tracker-recovered.db"}' in checks[-1].detail


def test_a_sound_store_passes_the_integrity_check(store):
    record_run(store, "train", metrics={"acc": 0.5})
    store.check_integrity()
    assert store.damage is None


# ------------------------------------------------------------------- run ids
def test_run_ids_are_random_32_digit_hex(store):
    # Given / When two runs are recorded
    ids = [record_run(store, "a"), record_run(store, "b")]
    # Then their ids are 32 lowercase hex digits, and different
    assert all(re.fullmatch(r"[0-9a-f]{32}", run_id) for run_id in ids)
    assert ids[0] != ids[1]
    assert set(store.runs_frame()["run_id"]) == set(ids)


def test_a_unique_prefix_resolves_to_its_run(store):
    # Given runs abc0…, abc1… and def0…
    first, second, other = (begin(store, chosen_id(p)) for p in ("abc0", "abc1", "def0"))
    # When / Then any unique prefix, in any case, resolves
    assert store.resolve("abc0") == first
    assert store.resolve("ABC1") == second
    assert store.resolve("d") == other
    assert store.resolve(other) == other
    assert store.get_run("abc1").run_id == second


@pytest.mark.parametrize("prefix", ["0123", "abcz", "abc00001"])
def test_an_unknown_prefix_is_run_not_found_naming_it(store, prefix):
    # Given runs abc0… and abc1…
    begin(store, chosen_id("abc0"))
    begin(store, chosen_id("abc1"))
    # When / Then a prefix matching none of them names itself in the error
    with pytest.raises(RunNotFound, match=f"no run matches '{prefix}'"):
        store.resolve(prefix)


def test_an_ambiguous_prefix_names_the_candidates(store):
    # Given runs abc0… and abc1…
    ids = [begin(store, chosen_id(p)) for p in ("abc0", "abc1")]
    # When the shared prefix is used
    with pytest.raises(AmbiguousRunId) as ambiguous:
        store.get_run("abc")
    # Then both candidates are named
    assert ambiguous.value.candidates == ids
    assert str(ambiguous.value) == "run id prefix 'abc' is ambiguous: abc000000000, abc100000000"


def test_an_ambiguous_prefix_counts_every_other_candidate(store):
    # Given 60 runs whose ids start with "a"
    for i in range(60):
        begin(store, chosen_id(f"a{i:02x}"))
    # When / Then the message shows five and counts the 55 others
    with pytest.raises(AmbiguousRunId, match=r"is ambiguous: a00000000000, .* and 55 more$"):
        store.resolve("a")


# ---------------------------------------------------------- content-addressed
def test_identical_code_and_history_are_stored_once(tracker_db):
    # Given two runs of the same cell after the same history, recorded by two processes' stores
    history = ["import numpy as np", "x = np.arange(3)\nacc = 0.5"]
    first = record_run(Store(tracker_db), "cell", code=history[-1], history=history)
    second = record_run(Store(tracker_db), "cell", code=history[-1], history=history)
    # Then code, history list and environment are each one blob
    # (cell text = last history entry, first history entry, history list, environment)
    assert count(tracker_db, "blobs") == 4
    # When a third run shares only the first history entry
    record_run(Store(tracker_db), "cell", code="acc = 0.6", history=[history[0], "acc = 0.6"])
    # Then only its new cell and its new history list are added
    assert count(tracker_db, "blobs") == 6
    with sqlite3.connect(tracker_db) as conn:
        assert conn.execute("SELECT count(*) FROM blobs WHERE content = ?", (history[0],)).fetchone()[0] == 1
    store = Store(tracker_db)
    assert store.get_run(first).history == store.get_run(second).history == history
    assert store.get_run(second).code == history[-1]


# ------------------------------------------------------------------ atomicity
def test_finishing_an_unknown_run_writes_nothing(store, tracker_db):
    # Given a store with one finished run
    record_run(store, "kept", metrics={"acc": 0.5})
    counts = {table: count(tracker_db, table) for table in ("runs", "blobs", "params", "metrics", "latest_metrics")}
    # When a run that was never begun is finished with new code, params and metrics
    ghost = Run(run_id=chosen_id("dead"), experiment="default", name="ghost", status="finished", start=START,
                end=START, duration=0.0, source="script", params={"lr": 1}, code="never stored",
                history=["never stored"])
    with pytest.raises(RunNotFound):
        store.finish_run(ghost, [MetricPoint("acc", 0.1, None, START)])
    # Then no table gained a row
    assert {table: count(tracker_db, table) for table in counts} == counts


def test_a_write_failing_at_its_last_step_leaves_the_run_as_it_was_and_can_be_retried(store, tracker_db):
    # Given a running run
    recorder = Recorder(store, "half", clock=lambda: START)
    recorder.log_params({"lr": 0.1})
    recorder.set_tag("stage", "dev")
    # When its final write fails on the metrics, after blobs, run, params and tags were written
    recorder.points.append(MetricPoint("acc", object(), None, START))  # not a number: fails in the transaction
    with pytest.raises(TypeError):
        recorder.finish("finished", code="acc = object()")
    # Then nothing of that write is visible
    run = store.get_run(recorder.run_id)
    assert (run.status, run.params, run.tags, run.code, run.metrics) == ("running", {}, {}, "", {})
    assert count(tracker_db, "blobs") == 0 and count(tracker_db, "metrics") == 0
    # And a retry stores everything, code blob included
    recorder.points[-1] = MetricPoint("acc", 0.5, None, START)
    recorder.finish("finished", code="acc = 0.5")
    run = store.get_run(recorder.run_id)
    assert (run.status, run.params, run.tags, run.code, run.metrics) == (
        "finished", {"lr": 0.1}, {"stage": "dev"}, "acc = 0.5", {"acc": 0.5})


# --------------------------------------------------------------- NaN and Inf
def test_nan_and_infinities_round_trip_as_documented(tmp_path, monkeypatch, tracker_db):
    # Given a run that logs NaN, +Inf and -Inf, as final values and inside a step series
    monkeypatch.chdir(tmp_path)
    with jt.start_run("special") as run:
        jt.log_metrics({"nan": math.nan, "pos": math.inf, "neg": -math.inf})
        for step, value in enumerate([1.0, math.nan, math.inf, -math.inf]):
            jt.log_metric("series", value, step=step)
    # When it is read back
    metrics = jt.get_run(run.run_id).metrics
    series = jt.metric_series(run.run_id, "series")
    frame = jt.runs()
    # Then NaN stays NaN and the infinities keep their sign, everywhere
    assert math.isnan(metrics["nan"]) and metrics["pos"] == math.inf and metrics["neg"] == -math.inf
    assert metrics["series"] == -math.inf
    assert series["step"].tolist() == [0, 1, 2, 3]
    values = series["value"].tolist()
    assert values[0] == 1.0 and math.isnan(values[1]) and values[2:] == [math.inf, -math.inf]
    assert math.isnan(frame["metrics.nan"][0]) and frame["metrics.pos"][0] == math.inf
    # And in the file NaN is NULL while ±Inf are stored as REAL infinities (docs/schema.md)
    with sqlite3.connect(tracker_db) as conn:
        stored = dict(conn.execute("SELECT key, value FROM latest_metrics"))
        points = [v for (v,) in conn.execute("SELECT value FROM metrics WHERE key = 'series' ORDER BY seq")]
    assert stored == {"nan": None, "pos": math.inf, "neg": -math.inf, "series": -math.inf}
    assert points == [1.0, None, math.inf, -math.inf]


# ------------------------------------------------------------------ runs table
def test_runs_frame_has_the_documented_columns_in_order(store):
    # Given two runs with params, metrics and tags
    record_run(store, "train", "churn", start=START, params={"lr": 0.1, "batch": 32},
               metrics={"acc": 0.9}, tags={"stage": "dev"})
    record_run(store, "train", "churn", start=START + 1, params={"lr": 0.2}, metrics={"acc": 0.8, "f1": 0.7})
    # When they are listed
    frame = jt.runs()
    # Then the fixed columns come first, then params.*, metrics.*, tags.*, oldest run first
    assert list(frame.columns) == ["run_id", "experiment", "name", "status", "start", "duration",
                                   "params.batch", "params.lr", "metrics.acc", "metrics.f1", "tags.stage"]
    assert frame["params.lr"].tolist() == [0.1, 0.2]
    assert frame["metrics.acc"].tolist() == [0.9, 0.8]
    assert math.isnan(frame["metrics.f1"][0]) and frame["metrics.f1"][1] == 0.7
    assert frame["tags.stage"][0] == "dev" and pd.isna(frame["tags.stage"][1])
    assert frame["start"].tolist() == [pd.Timestamp(START, unit="s", tz="UTC"),
                                       pd.Timestamp(START + 1, unit="s", tz="UTC")]
    assert (frame["status"] == "finished").all() and (frame["duration"] >= 0).all()


def test_runs_filter_by_experiment_and_name_and_keep_the_last_n(store):
    # Given runs of two experiments and two names, interleaved in time
    plan = [("a", "fit"), ("b", "fit"), ("a", "eval"), ("b", "fit"), ("a", "fit")]
    for i, (experiment, name) in enumerate(plan):
        record_run(store, name, experiment, start=START + i, params={"i": i})
    # When / Then filters select, and last keeps the most recent ones, oldest first
    assert jt.runs(experiment="a")["params.i"].tolist() == [0, 2, 4]
    assert jt.runs(name="fit")["params.i"].tolist() == [0, 1, 3, 4]
    assert jt.runs(experiment="a", name="fit")["params.i"].tolist() == [0, 4]
    assert jt.runs(experiment="a", last=2)["params.i"].tolist() == [2, 4]
    assert jt.runs(last=1)["params.i"].tolist() == [4]
    assert jt.runs(experiment="nothing").empty


# ---------------------------------------------------------------- processes
WRITER = textwrap.dedent("""
    import sys
    import jupyter_tracker as jt

    worker = int(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()  # all workers start writing together
    for i in range(100):
        with jt.start_run(f"worker{worker}", experiment="parallel"):
            jt.log_param("worker", worker)
            jt.log_param("i", i)
            jt.log_metric("value", worker * 1000 + i)
""")


def test_four_processes_writing_at_once_lose_no_run(tmp_path, tracker_db):
    # Given four processes ready to write to a store none of them has created yet
    workers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(n)], cwd=tmp_path, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in range(4)
    ]
    assert [w.stdout.readline().strip() for w in workers] == ["ready"] * 4
    # When they each record 100 runs at the same time
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    results = [w.communicate(timeout=120) for w in workers]
    # Then every process succeeded without any locking error
    for w, (_, stderr) in zip(workers, results):
        assert w.returncode == 0, stderr
        assert "locked" not in stderr and "Traceback" not in stderr
    # And exactly 400 finished runs are there, each with its own values
    frame = Store(tracker_db, create=False).runs_frame()
    assert len(frame) == 400 and frame["run_id"].is_unique
    assert (frame["status"] == "finished").all()
    assert frame.groupby("name").size().to_dict() == {f"worker{n}": 100 for n in range(4)}
    assert (frame["metrics.value"] == frame["params.worker"] * 1000 + frame["params.i"]).all()


OWNER = textwrap.dedent("""
    import sys
    import jupyter_tracker as jt

    with jt.start_run("doomed", experiment="kill") as run:
        jt.log_param("lr", 0.1)
        print(run.run_id, flush=True)
        sys.stdin.readline()  # blocks until the test kills this process
""")


def start_owner(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=tmp_path, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return owner, owner.stdout.readline().strip()


def test_a_run_whose_process_was_killed_reads_as_interrupted(tmp_path, tracker_db):
    # Given a process in the middle of a run
    owner, run_id = start_owner(tmp_path)
    try:
        store = Store(tracker_db, create=False)
        assert store.get_run(run_id).status == "running"  # its owner is alive: left alone
        # When it is killed with SIGKILL (and not reaped yet: a zombie)
        os.kill(owner.pid, signal.SIGKILL)
        os.waitid(os.P_PID, owner.pid, os.WEXITED | os.WNOWAIT)
        # Then the next read shows the run as interrupted
        frame = store.runs_frame()
        assert frame.set_index("run_id").loc[run_id, "status"] == "interrupted"
    finally:
        owner.kill()
        owner.wait()


def test_doctor_marks_a_killed_run_interrupted_and_passes(tmp_path, tracker_db):
    # Given a process killed with SIGKILL in the middle of a run, and reaped
    owner, run_id = start_owner(tmp_path)
    owner.kill()
    owner.wait()
    # When doctor checks the store
    store = Store(tracker_db, create=False)
    checks = store.doctor()
    # Then every check passes and the run is marked interrupted, with an end and a reason
    assert all(check.ok for check in checks), checks
    assert "marked 1 killed run(s) interrupted" in next(c for c in checks if c.name == "runs").detail
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.end >= run.start
    assert "ended before the run finished" in run.error
    assert run.params == {}  # nothing of the unfinished run was half-written


def test_doctor_on_a_read_only_store_reports_unmarkable_killed_runs(tmp_path, tracker_db):
    # Given a run whose process was killed, in a store that has since become read-only
    owner, run_id = start_owner(tmp_path)
    owner.kill()
    owner.wait()
    Store(tracker_db, create=False).close()  # the last connection folds the WAL back into the file
    data = bytearray(tracker_db.read_bytes())
    data[18] = 3  # SQLite opens a file whose "write version" is above 2 read-only
    tracker_db.write_bytes(bytes(data))
    before = sha256(tracker_db)
    store = Store(tracker_db, create=False)
    # When doctor runs
    checks = store.doctor()
    # Then the run check fails and says why, instead of raising; readers still see the run
    runs = [check for check in checks if check.name == "runs"]
    assert len(runs) == 1 and not runs[0].ok and "readonly" in runs[0].detail
    assert store.get_run(run_id).status == "running"
    assert sha256(tracker_db) == before


def test_integer_params_missing_from_some_runs_stay_integers_whatever_their_size(tracker_db, tmp_path, monkeypatch):
    import jupyter_tracker as jt

    monkeypatch.chdir(tmp_path)
    for params in ({"depth": 8, "seed": 2 ** 70}, {}, {"depth": 3, "seed": 5}):
        with jt.start_run("sized"):
            jt.log_params(params)
    frame = jt.runs(db=tracker_db)
    assert frame["params.depth"].tolist()[0::2] == [8, 3] and str(frame["params.depth"].dtype) == "Int64"
    assert frame["params.seed"].tolist()[0] == 2 ** 70  # too big for Int64: kept as a Python int


# --------------------------------------------- what killed processes leave behind (issue 10)
def test_a_reader_that_cannot_mark_a_killed_run_says_so_once(tmp_path, tracker_db, capfd):
    # Given a run whose process was killed, in a store that has since become read-only
    owner, run_id = start_owner(tmp_path)
    owner.kill()
    owner.wait()
    Store(tracker_db, create=False).close()
    data = bytearray(tracker_db.read_bytes())
    data[18] = 3  # SQLite opens a file whose "write version" is above 2 read-only
    tracker_db.write_bytes(bytes(data))
    store = Store(tracker_db, create=False)
    capfd.readouterr()
    # When it is read three times
    statuses = [store.get_run(run_id).status, store.get_run(run_id).status,
                store.runs_frame().set_index("run_id").loc[run_id, "status"]]
    # Then every read succeeds, and one warning line says why the run still shows as running
    assert statuses == ["running"] * 3
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("jupyter_tracker warning: cannot mark runs of killed processes interrupted in")
    assert str(tracker_db) in lines[0] and "readonly" in lines[0]


def test_a_reader_does_not_wait_behind_a_writer_to_mark_a_killed_run(tmp_path, tracker_db, capfd):
    import time

    # Given a killed run, and another process holding the store's write lock
    owner, run_id = start_owner(tmp_path)
    owner.kill()
    owner.wait()
    store = Store(tracker_db, create=False)
    holder = sqlite3.connect(tracker_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # When the run is read
        started = time.monotonic()
        status = store.get_run(run_id).status
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Then the read answers within seconds (not the minute a write waits), saying why the run is not marked
    assert status == "running" and waited < 10
    assert "database is locked" in capfd.readouterr().err
    # And once the lock is gone, the next read marks it
    assert store.get_run(run_id).status == "interrupted"


ARTIFACT_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from jupyter_tracker.store.artifacts import ArtifactFiles

    def produce(writer):
        writer.write(b"half a model " * 100)
        print("writing", flush=True)
        sys.stdin.readline()  # blocks until the test lets it finish, or kills it
        writer.write(b"and the rest")

    print(ArtifactFiles(Path(sys.argv[1])).put_stream(produce)[0], flush=True)
""")


def test_doctor_removes_what_a_killed_writer_left_half_written_and_keeps_a_file_being_written(store, tracker_db):
    # Given two processes storing an artifact file, one of them killed half-way
    artifacts = tracker_db.parent / "artifacts"
    writers = [subprocess.Popen([sys.executable, "-c", ARTIFACT_WRITER, str(artifacts)], text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(2)]
    killed, alive = writers
    try:
        assert [w.stdout.readline().strip() for w in writers] == ["writing", "writing"]
        killed.kill()
        killed.wait()
        # and both temporary files untouched for two minutes (the live writer paused, the other dead)
        incoming = sorted(artifacts.glob(".incoming-*"))
        assert len(incoming) == 2
        for path in incoming:
            os.utime(path, (START, START))
        # When doctor checks the store
        checks = {check.name: check for check in store.doctor()}
        # Then the dead writer's file is removed and reported; the live writer's is kept
        leftovers = checks["leftovers"]
        assert leftovers.ok and "removed 1 file(s) that killed processes left half-written" in leftovers.detail
        assert "1 being written now, kept" in leftovers.detail
        (kept,) = artifacts.glob(".incoming-*")
        assert kept.name not in leftovers.detail and kept in incoming
        # And the live writer still stores its whole file
        alive.stdin.write("\n")
        alive.stdin.flush()
        digest = alive.stdout.readline().strip()
        assert alive.wait() == 0
        assert store.artifacts.path(digest).read_bytes() == b"half a model " * 100 + b"and the rest"
        assert list(artifacts.glob(".incoming-*")) == []
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()


def test_doctor_finds_artifact_files_that_are_missing_or_damaged(tracker_db, tmp_path, monkeypatch):
    # Given a run with a model and a file logged, as a user logs them
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.csv").write_text("a,b\n1,2\n")
    with jt.start_run("train") as run:
        jt.log_model({"weights": list(range(100))}, name="model")
        jt.log_artifact(tmp_path / "report.csv")
    store = Store(tracker_db, create=False)
    checks = {check.name: check for check in store.doctor()}
    assert checks["artifacts"].ok and checks["artifacts"].detail == (
        "2 files of 2 artifacts present (sizes and hashes match)")
    # When one stored file is deleted and the other overwritten with bytes of the same size
    stored = {a.kind: a for a in store.get_run(run.run_id).artifacts}
    model, report = stored["model"], stored["file"]
    model.path.unlink()
    report.path.chmod(0o644)
    report.path.write_bytes(b"x" * report.size)
    # Then doctor fails the artifacts check, naming each artifact, its run, its file and what is wrong
    check = {check.name: check for check in store.doctor()}["artifacts"]
    assert not check.ok and check.detail.startswith("2 of 2 files missing or damaged:")
    assert f"model 'model' of run {run.run_id[:8]}: {model.path} is missing" in check.detail
    assert f"file 'report.csv' of run {run.run_id[:8]}: {report.path} no longer matches its hash" in check.detail


# --------------------------------------------------------------- what is written when (issue 12)
def test_a_growing_history_is_stored_as_the_same_blobs_as_written_from_scratch(store, tracker_db):
    # Given runs of one kernel whose history grows, then a run of another history (not a continuation)
    histories = [["a = 1"], ["a = 1", "b = 2"], ["a = 1", "b = 2", "c = 3", "a = 1"], ["z = 9"], []]
    run_ids = [record_run(store, f"run{i}", code=(history or [""])[-1], history=history or None)
               for i, history in enumerate(histories)]
    # Then each reads back whole, and the blob of each history is the one a fresh store would write
    for run_id, history in zip(run_ids, histories):
        assert store.get_run(run_id).history == (history or [""])
    with sqlite3.connect(tracker_db) as conn:
        stored = [row[0] for row in conn.execute(
            "SELECT b.content FROM runs AS r JOIN blobs AS b ON b.hash = r.history_hash ORDER BY r.name")]
    from jupyter_tracker.store import content_hash
    assert stored == [json.dumps([content_hash(s) for s in (h or [""])]) for h in histories]


def test_the_start_of_a_run_holds_what_is_known_then_and_the_end_adds_the_rest(store):
    # Given a run begun with params, code and history, which logs points after a flush
    recorder = Recorder(store, "staged", clock=lambda: START, begin=False)
    recorder.log_params({"lr": 0.1})
    recorder.begin(code="fit()", history=["load()", "fit()"])
    started = store.get_run(recorder.run_id)
    assert (started.status, started.params, started.code, started.history) == (
        "running", {"lr": 0.1}, "fit()", ["load()", "fit()"])
    recorder.log_metrics({"loss": 0.5}, step=0)
    recorder.flush()
    recorder.log_metrics({"loss": 0.25}, step=1)
    recorder.log_params({"depth": 3})
    # When it finishes
    recorder.finish("finished", code="fit()", history=["load()", "fit()"])
    # Then every point is there once, and the params of both writes
    run = store.get_run(recorder.run_id)
    assert (run.status, run.params, run.metrics, run.metric_steps) == (
        "finished", {"lr": 0.1, "depth": 3}, {"loss": 0.25}, {"loss": 2})
    assert store.metric_series(recorder.run_id, "loss")["step"].tolist() == [0, 1]


def test_a_long_growing_history_is_stored_as_continuations_and_reads_back_whole(store, tracker_db):
    from jupyter_tracker.store import HISTORY_CHAIN_MAX, HISTORY_DELTA_FROM

    # Given a kernel's history longer than HISTORY_DELTA_FROM growing by one cell per tracked run
    history = [f"cell_{i} = {i}" for i in range(HISTORY_DELTA_FROM)]
    run_ids = []
    for i in range(HISTORY_CHAIN_MAX + 3):
        history = [*history, f"%%track run{i}"]
        run_ids.append(record_run(store, f"run{i:03d}", code=history[-1], history=history))
    # Then every run reads back its whole history, from a fresh store too
    fresh = Store(tracker_db)
    for i, run_id in enumerate(run_ids):
        assert fresh.get_run(run_id).history == history[:HISTORY_DELTA_FROM + i + 1]
    # And the later ones were written as a few new hashes, not the whole list again
    with sqlite3.connect(tracker_db) as conn:
        sizes = [len(row[0]) for row in conn.execute(
            "SELECT b.content FROM runs AS r JOIN blobs AS b ON b.hash = r.history_hash ORDER BY r.name")]
    assert sizes[1] < sizes[0] / 10 and sizes[HISTORY_CHAIN_MAX + 1] > sizes[0]  # a whole list again
