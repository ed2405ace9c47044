"""Runs whose process is gone: telling a dead owner from a live one, and marking its runs interrupted.

A run is written as ``running`` with its host, pid and the kernel's start tick of that pid. A run of
this host whose process is gone (or is a zombie, or whose pid now belongs to another process) was
killed: readers mark it ``interrupted`` on their way (reaping, with a short lock timeout, issue 10).
Runs of other hosts are marked only when the user says their process is gone.
"""

from __future__ import annotations

import functools
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from ..errors import UsageProblem

INTERRUPTED_MESSAGE = "the process recording this run ended before the run finished (kernel killed or restarted)"
# A reader marks killed runs on its way; it does not wait a minute behind a writer to do so (issue 10).
REAP_TIMEOUT_SECONDS = 2.0


def dead_runs(conn: sqlite3.Connection) -> list[str]:
    """Ids of the ``running`` runs of this host whose owning process is gone."""
    candidates = conn.execute(
        "SELECT run_id, pid, pid_started FROM runs WHERE status = 'running' AND host = ?", (socket.gethostname(),)
    ).fetchall()
    return [run_id for run_id, pid, started in candidates if not process_alive(pid, started)]


def mark_dead(conn: sqlite3.Connection, run_ids: list[str], now: float) -> None:
    """Mark the runs ``run_ids`` that are still running interrupted, ended ``now``."""
    conn.executemany(
        "UPDATE runs SET status = 'interrupted', end_time = coalesce(end_time, ?),"
        " duration = coalesce(duration, ? - start_time), error = coalesce(error, ?)"
        " WHERE run_id = ? AND status = 'running'",
        [(now, now, INTERRUPTED_MESSAGE, run_id) for run_id in run_ids],
    )


def mark_runs_interrupted(conn: sqlite3.Connection, resolve: Callable[[str], str], run_ids: Iterable[str],
                          hosts: Iterable[str]) -> list[str]:
    """Inside a write transaction: mark the runs ``run_ids`` (prefixes, through ``resolve``) and the running
    runs of ``hosts`` interrupted; UsageProblem, before anything is marked, for one that cannot be."""
    here = socket.gethostname()
    chosen: dict[str, str | None] = {}  # run id -> the host it ran on
    for prefix in run_ids:
        run_id = resolve(prefix)
        status, host, pid, started = conn.execute(
            "SELECT status, host, pid, pid_started FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if status != "running":
            raise UsageProblem(f"run {run_id[:8]} is {status}, not running: there is nothing to mark")
        if host == here and process_alive(pid, started):
            raise UsageProblem(f"run {run_id[:8]} is still running: its process {pid} on this host is alive")
        chosen[run_id] = host
    for host in hosts:
        if host == here:
            raise UsageProblem(f"'{host}' is this host: the processes of its runs are checked here, and "
                               "the runs of those that are gone are marked interrupted without being named")
        found = [r for (r,) in conn.execute(
            "SELECT run_id FROM runs WHERE status = 'running' AND host = ? ORDER BY start_time", (host,))]
        if not found:
            others = [f"{h} ({n})" for h, n in conn.execute(
                "SELECT host, count(*) FROM runs WHERE status = 'running' AND host IS NOT ? GROUP BY host"
                " ORDER BY host", (here,)) if h is not None]
            raise UsageProblem(f"no running run was recorded on host '{host}'"
                               + (f" (running runs of other hosts: {', '.join(others)})" if others else ""))
        chosen.update(dict.fromkeys(found, host))
    now = time.time()
    conn.executemany(
        "UPDATE runs SET status = 'interrupted', end_time = coalesce(end_time, ?),"
        " duration = coalesce(duration, ? - start_time), error = coalesce(error, ?)"
        " WHERE run_id = ? AND status = 'running'",
        [(now, now, f"marked interrupted from {here}: the process recording it on {host or 'its host'}"
          " was reported gone", run_id) for run_id, host in chosen.items()],
    )
    return list(chosen)


def reap_quietly(mark_interrupted: Callable[[float], list[str]], path: Path, told: set[str]) -> None:
    """Mark killed runs interrupted, waiting at most REAP_TIMEOUT_SECONDS for the write lock.

    When the store cannot be written (a read-only file, a lock held past the timeout) the runs keep
    showing as running, and one warning line says why, once per reason in ``told``: the sidebar reads
    every second (issue 10: never swallowed).
    """
    try:
        mark_interrupted(REAP_TIMEOUT_SECONDS)
    except sqlite3.OperationalError as error:
        message = f"cannot mark runs of killed processes interrupted in {path}: {error}"
        if message not in told:
            told.add(message)
            print(f"jupyter_tracker warning: {message}", file=sys.stderr)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()


@functools.lru_cache(maxsize=4)
def own_start(pid: int) -> str | None:
    # This process's start tick never changes (a forked child asks with its own pid): read /proc once.
    return process_started(pid)


def process_started(pid: int) -> str | None:
    """The kernel's start tick of a process, so a reused pid is not mistaken for the run's owner."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def process_alive(pid: int | None, started: str | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return started is None  # no /proc: the signal test is all we have
    # A killed kernel whose parent has not reaped it yet is a zombie: dead for our purpose.
    return fields[0] != "Z" and (started is None or fields[19] == started)
