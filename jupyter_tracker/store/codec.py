"""How values are written into the store and read back: content hashes, JSON, metric values.

Shared by the writes (write.py) and the reads (query.py, frames.py); no SQL here.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import xxhash

# A history of at least this many entries that continues this store's last one is stored as the entries
# added to it (issue 12: writing the whole list again was 1.2 ms of a tracked cell after 5,000 cells);
# every HISTORY_CHAIN_MAX continuations a whole list again, so a reader follows a bounded chain.
HISTORY_DELTA_FROM = 256
HISTORY_CHAIN_MAX = 64


def content_hash(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


@functools.lru_cache(maxsize=1 << 14)
def source_hash(text: str) -> str:
    # Each tracked cell stores the kernel's whole history by hash: every source is hashed once per
    # process, not once per tracked cell (O(history) per cell otherwise, issue 7).
    return content_hash(text)


def to_json(value: Any) -> str:
    return _ENCODER.encode(value)


def _jsonable(value: Any) -> Any:
    # numpy scalars and arrays: their Python equivalents; anything else: its repr.
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


# json.dumps with options builds an encoder per call; a run writes a dozen values (issue 7).
_ENCODER = json.JSONEncoder(default=_jsonable, ensure_ascii=False)
POINTS = json.JSONEncoder(check_circular=False)  # lists of numbers only: [seq, step, value, timestamp]


def metric_to_sql(value: float) -> float | None:
    # SQLite turns NaN into NULL by itself; saying so here keeps it explicit. ±Inf round-trip as REAL.
    value = float(value)
    return None if math.isnan(value) else value


def metric_from_sql(value: float | None) -> float:
    return math.nan if value is None else value
