"""Full-text search of runs by their code (issue 14): the ``run_search`` FTS5 table.

One document per run, under its run's rowid: its cell code, and the entries of its execution history
that are new since the previous run of its session (a kernel's history only grows: indexing all of it for
every run made each tracked cell's write grow with the history, +17 ms at 2,000 cells, issue 12). A word
of the history therefore matches the run whose document holds it and every later run of the same session.

Documents are written by whoever searches, not by the tracked cell: before a search by code, ``catch_up``
indexes every run added since the last one indexed (rowids only grow: runs are never deleted), a few
hundred a transaction, so that a server answering other requests meanwhile never waits long. A run's code and history are written at its start (issue 12), so a running run is found
too; the rare write that changes them afterwards replaces its document (``refresh``). A tracked cell
thus pays nothing for the index (its FTS segment write was 0.3 ms of the 0.6 ms a run's write costs),
and migrating a store builds the documents of the runs it holds (``catch_up`` from the first).

The search box matches names, params, tags and ids with LIKE (query.py) and, for each word, the code
and history through FTS5: the word as one quoted phrase prefix, never FTS syntax.
"""

from __future__ import annotations

import json
import sqlite3

from .codec import HISTORY_CHAIN_MAX

SEARCH_TABLE = "run_search"
# The part of a document the search box looks into through FTS.
CODE_COLUMNS = "{code history}"
MIN_CODE_WORD = 3  # letters or digits a word needs to be looked for in code


def pending(conn: sqlite3.Connection) -> bool:
    """Whether runs were added since the last one indexed (two seeks)."""
    last = conn.execute(f"SELECT rowid FROM {SEARCH_TABLE} ORDER BY rowid DESC LIMIT 1").fetchone()
    newest = conn.execute("SELECT max(rowid) FROM runs").fetchone()[0]
    return newest is not None and (last is None or newest > last[0])


def catch_up(conn: sqlite3.Connection, limit: int = -1) -> int:
    """Index the runs added since the last one indexed, at most ``limit`` of them (all when -1), in rowid
    order (inside the caller's write transaction); the number indexed."""
    last = conn.execute(f"SELECT rowid FROM {SEARCH_TABLE} ORDER BY rowid DESC LIMIT 1").fetchone()
    rows = conn.execute(
        "SELECT rowid, run_id, session_id, session_seq, code_hash, history_hash FROM runs WHERE rowid > ?"
        " ORDER BY rowid LIMIT ?", (last[0] if last else 0, limit)).fetchall()
    histories = _Histories(conn)
    for rowid, run_id, session_id, session_seq, code_hash, history_hash in rows:
        _index(conn, histories, rowid, run_id, session_id, session_seq, code_hash, history_hash)
    return len(rows)


def refresh(conn: sqlite3.Connection, run_id: str) -> None:
    """Replace the document of ``run_id`` from its row, when it has one (its code or history changed)."""
    row = conn.execute("SELECT rowid, run_id, session_id, session_seq, code_hash, history_hash FROM runs"
                       " WHERE run_id = ?", (run_id,)).fetchone()
    if row is not None and conn.execute(f"SELECT 1 FROM {SEARCH_TABLE} WHERE rowid = ?", (row[0],)).fetchone():
        conn.execute(f"DELETE FROM {SEARCH_TABLE} WHERE rowid = ?", (row[0],))
        _index(conn, _Histories(conn), *row)


def _index(conn: sqlite3.Connection, histories: _Histories, rowid: int, run_id: str, session_id: str | None,
           session_seq: int | None, code_hash: str | None, history_hash: str | None) -> None:
    hashes = histories.hashes(history_hash)
    if session_id is not None and hashes:
        previous = histories.previous(session_id, session_seq, rowid)
        if previous and hashes[:len(previous)] == previous:
            hashes = hashes[len(previous):]
    if session_id is not None:
        histories.last_of_session[session_id] = (session_seq, histories.hashes(history_hash))
    texts = histories.texts(hashes)
    conn.execute(f"INSERT INTO {SEARCH_TABLE} (rowid, run_id, code, history) VALUES (?, ?, ?, ?)",
                 (rowid, run_id, histories.texts([code_hash])[0] if code_hash else "", "\n".join(texts)))


class _Histories:
    """Stored histories as lists of source hashes, each decoded once: a history that continues another
    (``{"continues": ..., "added": [...]}``) costs only its additions when that one was decoded before."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.decoded: dict[str, list[str]] = {}
        self.last_of_session: dict[str, tuple[int | None, list[str]]] = {}

    def hashes(self, history_hash: str | None) -> list[str]:
        if not history_hash:
            return []
        chain, current = [], history_hash
        for _ in range(10 * HISTORY_CHAIN_MAX):  # a bound, against a damaged file's loop
            if current in self.decoded:
                break
            stored = _loads(self.blob(current))
            if not isinstance(stored, dict):
                self.decoded[current] = [h for h in stored if isinstance(h, str)] if isinstance(stored, list) else []
                break
            chain.append((current, stored.get("added") or []))
            current = stored.get("continues")
        known = self.decoded.get(current, [])
        for blob_hash, added in reversed(chain):
            known = self.decoded[blob_hash] = [*known, *added]
        return self.decoded[history_hash]

    def previous(self, session_id: str, session_seq: int | None, rowid: int) -> list[str]:
        """The history of the run before this one in its session (its previous ``session_seq``)."""
        seen = self.last_of_session.get(session_id)
        if seen is not None and session_seq is not None and seen[0] is not None and seen[0] < session_seq:
            return seen[1]
        row = self.conn.execute(
            "SELECT history_hash FROM runs WHERE session_id = ? AND session_seq < ? AND rowid != ?"
            " ORDER BY session_seq DESC LIMIT 1", (session_id, session_seq if session_seq is not None else -1, rowid),
        ).fetchone()
        return self.hashes(row[0]) if row else []

    def texts(self, hashes: list[str]) -> list[str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            found.update(self.conn.execute(
                f"SELECT hash, content FROM blobs WHERE hash IN ({','.join('?' * len(chunk))})", chunk))
        return [found.get(h, "") for h in hashes]

    def blob(self, blob_hash: str | None) -> str:
        row = self.conn.execute("SELECT content FROM blobs WHERE hash = ?", (blob_hash,)).fetchone()
        return row[0] if row else ""


def _loads(text: str) -> object:
    try:
        return json.loads(text or "[]")
    except ValueError:
        return []


def code_condition(column: str = "r.run_id") -> str:
    """SQL: ``column`` is a run whose code or new history matches the FTS query bound twice (``?``, ``?``),
    or a later run of a session whose earlier run's new history does."""
    return (f"{column} IN (SELECT run_id FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH ?"
            f" UNION SELECT later.run_id FROM {SEARCH_TABLE} JOIN runs AS earlier ON earlier.run_id = {SEARCH_TABLE}.run_id"
            " JOIN runs AS later ON later.session_id = earlier.session_id AND later.session_seq > earlier.session_seq"
            f" WHERE {SEARCH_TABLE} MATCH ?)")


def history_match(code_query: str) -> str:
    """The FTS query of ``code_match`` restricted to the history column."""
    return code_query.replace(CODE_COLUMNS, "history", 1)


def code_match(word: str) -> str | None:
    """The FTS5 query finding ``word`` in code or history as a phrase prefix (``"StandardScaler"*``), quotes
    doubled so that nothing the user typed is FTS syntax; None for a word of fewer than 3 letters or digits
    (``x``, ``rf``, ``=``: a prefix that short is in nearly every cell's code, and slow to look up; LIKE alone
    searches names, params and tags for it)."""
    if sum(c.isalnum() for c in word) < MIN_CODE_WORD:
        return None
    return f'{CODE_COLUMNS} : "{word.replace(chr(34), chr(34) * 2)}"*'
