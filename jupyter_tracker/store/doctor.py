"""``jupyter-tracker doctor``: integrity checks of the file, its runs and its artifact files.

Each check is a ``DoctorCheck``; ``Store.doctor`` runs them in order, with the repairs that are safe
(marking runs of killed processes interrupted, removing half-written temporary files).
"""

from __future__ import annotations

import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .artifacts import ArtifactFiles
from .open import schema_version
from .schema import SCHEMA_VERSION

# doctor reads every artifact file back to check its hash, up to this many bytes; beyond, sizes only.
HASH_CHECK_BYTES = 1 << 30


@dataclass(frozen=True)
class DoctorCheck:
    name: str
    ok: bool
    detail: str


def file_checks(conn: sqlite3.Connection, marking: bool) -> tuple[list[DoctorCheck], bool]:
    """The integrity, references, journal and schema checks, and whether the file is sound enough for the
    rest (``marking``: runs were asked to be marked, which a damaged file refuses)."""
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as error:
        # Too damaged to even list the damage: that is the whole report.
        return [DoctorCheck("integrity", False, str(error))], False
    checks = [DoctorCheck("integrity", integrity == ["ok"], "; ".join(integrity[:5]))]
    if integrity != ["ok"]:
        if marking:
            checks.append(DoctorCheck("runs", False, "no run was marked interrupted: the file is damaged"))
        return checks, False  # the rest would read damaged pages, and marking runs would write to them
    broken_refs = conn.execute("PRAGMA foreign_key_check").fetchall()
    checks.append(DoctorCheck(
        "references", not broken_refs,
        "all references resolve" if not broken_refs else f"{len(broken_refs)} dangling references",
    ))
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    checks.append(DoctorCheck("journal", mode == "wal", f"journal_mode={mode}"))
    checks.append(DoctorCheck("schema", True, f"schema version {schema_version(conn)} (current {SCHEMA_VERSION})"))
    return checks, True


def recovery_check(path: Path) -> DoctorCheck:
    """How to get a damaged store's runs back: SQLite's own .recover, into a new file the user then uses."""
    recovered = path.with_name(path.stem + "-recovered" + path.suffix)
    return DoctorCheck("recover", False, (
        f"the store is read-only until it is replaced. Recover what SQLite can read with "
        f"`sqlite3 {path} \".recover\" | sqlite3 {recovered}`, check it with "
        f"`jupyter-tracker --db {recovered} doctor`, then keep {path.name} aside and move {recovered.name} "
        f"in its place (or point JUPYTER_TRACKER_DB at it)"))


def runs_check(conn: sqlite3.Connection, reaped: list[str], marked: list[str]) -> DoctorCheck:
    """How many runs there are and run, which were just marked interrupted, and which run elsewhere."""
    here = socket.gethostname()
    total, running = conn.execute(
        "SELECT count(*), coalesce(sum(status = 'running'), 0) FROM runs").fetchone()
    elsewhere = conn.execute(
        "SELECT run_id, host FROM runs WHERE status = 'running' AND host IS NOT ? ORDER BY host, start_time",
        (here,)).fetchall()
    detail = f"{total} runs, {running} running"
    if reaped:
        detail += f"; marked {len(reaped)} killed run(s) interrupted: {_short_ids(reaped)}"
    if marked:
        detail += f"; marked {len(marked)} run(s) interrupted as asked: {_short_ids(marked)}"
    if elsewhere:
        by_host: dict[str, list[str]] = {}
        for run_id, host in elsewhere:
            by_host.setdefault(host or "an unknown host", []).append(run_id)
        hosts = "; ".join(f"{host}: {_short_ids(ids)}" for host, ids in by_host.items())
        detail += (f"; {len(elsewhere)} running on other hosts, whose processes cannot be checked from here"
                   f" ({hosts}): mark those known to be gone with --interrupted RUN or --host-down HOST")
    return DoctorCheck("runs", True, detail)


def artifact_rows(conn: sqlite3.Connection) -> list[tuple[str, int, str, str, str]]:
    """(hash, size, kind, name, run_id) of every artifact row."""
    return conn.execute(
        "SELECT hash, size, kind, name, run_id FROM artifacts ORDER BY hash, run_id, kind, name").fetchall()


def artifacts_check(rows: list[tuple[str, int, str, str, str]], files: ArtifactFiles) -> DoctorCheck:
    """Every artifact row's file is there, of its size, and (within HASH_CHECK_BYTES) of its hash."""
    by_file: dict[tuple[str, int], list[str]] = {}
    for digest, size, kind, name, run_id in rows:
        by_file.setdefault((digest, size), []).append(f"{kind} '{name}' of run {run_id[:8]}")
    hashed, damaged = 0, []
    for (digest, size), owners in by_file.items():
        by_content = hashed + size <= HASH_CHECK_BYTES
        hashed += size if by_content else 0
        problem = files.check(digest, size, by_content=by_content)
        if problem is not None:
            damaged.append(f"{owners[0]}{f' (and {len(owners) - 1} more)' if len(owners) > 1 else ''}: "
                           f"{files.path(digest)} {problem}")
    if damaged:
        shown = "; ".join(damaged[:5]) + (f"; and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        return DoctorCheck("artifacts", False, f"{len(damaged)} of {len(by_file)} files missing or damaged: {shown}")
    if not by_file:
        return DoctorCheck("artifacts", True, "no artifact files")
    checked = "sizes and hashes" if hashed == sum(size for _, size in by_file) else (
        f"sizes, and hashes of the first {hashed >> 20} MiB")
    return DoctorCheck("artifacts", True, f"{len(by_file)} files of {len(rows)} artifacts present ({checked} match)")


def leftovers_check(files: ArtifactFiles) -> DoctorCheck:
    """Remove the temporary files killed processes left half-written; keep those being written now."""
    found = files.clean_incoming()
    parts = []
    if found.removed:
        parts.append(f"removed {len(found.removed)} file(s) that killed processes left half-written in "
                     f"{files.root}: {', '.join(found.removed[:5])}")
    if found.kept:
        parts.append(f"{len(found.kept)} being written now, kept")
    if found.failed:
        parts.append(f"cannot remove {len(found.failed)} half-written file(s): {', '.join(found.failed[:5])}")
    return DoctorCheck("leftovers", not found.failed, "; ".join(parts) or "no half-written files")


def _short_ids(run_ids: list[str]) -> str:
    return ", ".join(r[:8] for r in run_ids[:10]) + (f" and {len(run_ids) - 10} more" if len(run_ids) > 10 else "")
