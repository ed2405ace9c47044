"""Full-content fingerprints of DataFrames, Series, ndarrays and files.

A fingerprint hashes the logical content, never the memory layout: arrays are hashed in C
order with native little-endian values, so a transposed view, a Fortran-ordered copy and a
big-endian copy of the same values hash alike, in any process (no use of Python's salted
``hash``). Hashing is xxh3-128 over buffers, never a Python loop over elements.

Per-column hashes and summary statistics (on an evenly spaced sample of at most
``STATS_SAMPLE`` rows) are kept so that comparisons can say which column changed and
validation can measure drift.

This module imports numpy and pandas only when handed one of their objects: whoever
passes a DataFrame has already paid for pandas.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from typing import Any, Iterator

import xxhash

from ..records import INDEX_COLUMN, ColumnFingerprint, Fingerprint

STATS_SAMPLE = 20_000  # rows used for numeric statistics: quantiles to within ~1% of rank
TEXT_STATS_SAMPLE = 10_000  # rows used for string statistics (value counts cost more per row)
CHUNK_BYTES = 8 << 20  # non-contiguous arrays are copied to C order this much at a time
FILE_CHUNK = 1 << 20
QUANTILES = tuple(i / 10 for i in range(11))
HISTOGRAM_BINS = 10
VALUES_NAME = "<values>"


def can_fingerprint(obj: Any) -> bool:
    """True for pandas DataFrames and Series and numpy arrays, without importing either library."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(obj, numpy.ndarray):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, (pandas.DataFrame, pandas.Series))


def fingerprint(obj: Any) -> Fingerprint:
    """Fingerprint a DataFrame, Series or ndarray.

    For example::

        fingerprint(np.arange(6).reshape(2, 3).T).hash == fingerprint(np.arange(6).reshape(2, 3).T.copy()).hash
        True
    """
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(obj, pandas.DataFrame):
        return _dataframe_fingerprint(obj)
    if pandas is not None and isinstance(obj, pandas.Series):
        return _series_fingerprint(obj)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(obj, numpy.ndarray):
        return _ndarray_fingerprint(obj)
    raise TypeError(f"cannot fingerprint {type(obj).__name__}")


def fingerprint_file(path: str | os.PathLike[str]) -> Fingerprint:
    """Hash a file's bytes, streamed in 1 MiB chunks so that large files never sit in memory whole."""
    hasher = xxhash.xxh3_128()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(FILE_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return Fingerprint("file", hasher.hexdigest(), (size,), size)


# ------------------------------------------------------------------ numpy

def _ndarray_fingerprint(array: Any) -> Fingerprint:
    hasher = xxhash.xxh3_128()
    _update(hasher, "ndarray", array.shape)
    _hash_ndarray(hasher, array)
    return Fingerprint("ndarray", hasher.hexdigest(), tuple(int(n) for n in array.shape), int(array.nbytes))


def _hash_ndarray(hasher: Any, array: Any) -> None:
    """Feed dtype and C-order little-endian content of ``array`` to ``hasher``."""
    import numpy as np

    dtype = array.dtype
    if dtype.hasobject:
        _update(hasher, "object")
        _hash_objects(hasher, array.reshape(-1))
        return
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big"):
        dtype = dtype.newbyteorder("<")
    _update(hasher, dtype.str if dtype.fields is None else repr(dtype.descr))
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype == dtype and array.flags.c_contiguous:
        hasher.update(_bytes_of(array))
        return
    rows_per_chunk = max(1, CHUNK_BYTES // max(1, array[0:1].nbytes))
    for start in range(0, array.shape[0], rows_per_chunk):
        hasher.update(_bytes_of(np.ascontiguousarray(array[start:start + rows_per_chunk], dtype=dtype)))


def _bytes_of(array: Any) -> Any:
    """The bytes of a C-contiguous array, without a copy (datetimes have no buffer format of their own)."""
    return array.reshape(-1).view("u1")


def _hash_objects(hasher: Any, values: Any) -> None:
    """Object arrays hold pointers: hash strings through Arrow's buffers, anything else per value."""
    if _hash_as_strings(hasher, values):
        return
    import pandas as pd  # object arrays of mixed values: pandas' vectorised, unsalted per-value hash

    _update(hasher, "mixed")
    hashes = pd.util.hash_array(values, categorize=False)
    hasher.update(_bytes_of(hashes.astype("<u8", copy=False)))
    # pandas hashes mixed objects through str(), so 1 and "1" would collide without their types.
    _update(hasher, "\0".join(type(v).__name__ for v in values))


def _hash_as_strings(hasher: Any, values: Any) -> bool:
    """Hash ``values`` as text if they all are strings (or null); False if they are not."""
    strings = _as_arrow_strings(values)
    if strings is None:
        return False
    _update(hasher, "strings")
    _hash_arrow_strings(hasher, strings)
    return True


def _as_arrow_strings(values: Any) -> Any:
    """A large_string Arrow array of ``values`` (pandas strings or str objects), or None."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover  (pyarrow is a dependency; stay correct without it)
        return None
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_string(array.type):
        array = array.cast(pa.large_string())
    if not pa.types.is_large_string(array.type):
        return None
    return array


def _hash_arrow_strings(hasher: Any, array: Any) -> None:
    """Hash UTF-8 bytes and zero-based offsets: chunking, slicing and null slots do not matter."""
    import numpy as np
    import pyarrow.compute as pc

    if array.null_count:
        _update(hasher, "nulls")
        hasher.update(_bytes_of(np.asarray(array.is_null(), dtype=np.uint8)))
        array = pc.fill_null(array, "")
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype="<i8")[array.offset: array.offset + len(array) + 1]
    first, last = (int(offsets[0]), int(offsets[-1])) if len(offsets) else (0, 0)
    hasher.update(_bytes_of((offsets - first).astype("<i8", copy=False)))
    if data_buffer is not None and last > first:
        hasher.update(memoryview(data_buffer)[first:last])


# ------------------------------------------------------------------ pandas

def _dataframe_fingerprint(frame: Any) -> Fingerprint:
    columns = []
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        columns.append(_column_fingerprint(str(frame.columns[position]), column))
    index = _index_fingerprint(frame.index)
    hasher = xxhash.xxh3_128()
    _update(hasher, "dataframe", frame.shape)
    for name, column in zip(frame.columns, columns):
        _update(hasher, _label(name), column.dtype, column.hash)
    _update(hasher, INDEX_COLUMN, index.dtype, index.hash)
    nbytes = sum(_nbytes(frame.iloc[:, p]) for p in range(frame.shape[1]))
    return Fingerprint("dataframe", hasher.hexdigest(), tuple(frame.shape), nbytes, (*columns, index))


def _series_fingerprint(series: Any) -> Fingerprint:
    name = VALUES_NAME if series.name is None else str(series.name)
    column = _column_fingerprint(name, series)
    index = _index_fingerprint(series.index)
    hasher = xxhash.xxh3_128()
    _update(hasher, "series", len(series), _label(series.name), column.dtype, column.hash, index.dtype, index.hash)
    return Fingerprint("series", hasher.hexdigest(), (len(series),), _nbytes(series), (column, index))


def _column_fingerprint(name: str, series: Any) -> ColumnFingerprint:
    hasher = xxhash.xxh3_128()
    dtype = str(series.dtype)
    _update(hasher, dtype)
    _hash_values(hasher, series)
    try:
        with _quiet_numerics():
            stats = _column_stats(series)
    except Exception as exc:  # noqa: BLE001  (statistics are extra: the hash stands without them)
        stats = {"count": len(series), "error": f"{type(exc).__name__}: {exc}"}
    return ColumnFingerprint(name, dtype, hasher.hexdigest(), stats)


def _index_fingerprint(index: Any) -> ColumnFingerprint:
    import pandas as pd

    hasher = xxhash.xxh3_128()
    dtype = str(index.dtype)
    _update(hasher, dtype, index.nlevels)
    if isinstance(index, pd.MultiIndex):
        for level in range(index.nlevels):
            _hash_values(hasher, index.get_level_values(level))
    else:
        # A RangeIndex hashes as the labels it stands for, like any integer index with those labels.
        _hash_values(hasher, pd.Index(index.to_numpy()) if isinstance(index, pd.RangeIndex) else index)
    return ColumnFingerprint(INDEX_COLUMN, dtype, hasher.hexdigest())


def _hash_values(hasher: Any, labelled: Any) -> None:
    """Hash the values of a Series or Index by the cheapest exact route their storage allows."""
    import numpy as np
    import pandas as pd

    _update(hasher, len(labelled))
    if isinstance(labelled.dtype, np.dtype):
        if labelled.dtype.hasobject:
            _hash_objects(hasher, labelled.to_numpy())
        else:
            _hash_ndarray(hasher, labelled.to_numpy())
        return
    values = labelled.array
    if isinstance(values, pd.Categorical):
        _update(hasher, "categorical", values.ordered)
        _hash_ndarray(hasher, values.codes)
        _hash_values(hasher, values.categories)
        return
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        _hash_ndarray(hasher, values.asi8)
        return
    numpy_dtype = getattr(values.dtype, "numpy_dtype", None)
    if isinstance(values, pd.api.extensions.ExtensionArray) and hasattr(values, "_mask") and numpy_dtype is not None:
        # Nullable Int/Float/boolean: values with nulls zeroed, plus the null mask.
        hasher.update(_bytes_of(np.asarray(values.isna(), dtype=np.uint8)))
        fill = False if numpy_dtype == np.bool_ else 0
        _hash_ndarray(hasher, values.to_numpy(dtype=numpy_dtype, na_value=fill))
        return
    if _hash_as_strings(hasher, values):
        return
    # Anything else (intervals, periods, mixed objects, other Arrow types): pandas' per-value hash.
    _update(hasher, "hashed")
    hashes = pd.util.hash_pandas_object(pd.Series(values, copy=False), index=False, categorize=False).to_numpy()
    hasher.update(_bytes_of(hashes.astype("<u8", copy=False)))


def _nbytes(series: Any) -> int:
    try:
        return int(series.array.nbytes)
    except Exception:  # noqa: BLE001  (some extension arrays cannot say; size is informative only)
        return 0


# ------------------------------------------------------------------ statistics

def _column_stats(series: Any) -> dict[str, Any]:
    """Summary statistics for validation; JSON-safe; computed on an evenly spaced sample."""
    import numpy as np
    import pandas as pd

    count = len(series)
    stats: dict[str, Any] = {"count": count}
    if count == 0:
        return stats
    stats["nulls"] = _null_count(series)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = series.dropna().to_numpy(dtype=bool)
        stats["mean"] = _number(values.mean()) if len(values) else None
        return stats
    if pd.api.types.is_numeric_dtype(dtype):
        sample = _sample(series, STATS_SAMPLE).dropna().to_numpy(dtype=np.float64, na_value=np.nan)
        sample = sample[np.isfinite(sample)]
        if len(sample):
            stats.update(_numeric_stats(sample))
        return stats
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if stats["nulls"] < count:  # min and max skip NaT: no copy of the column without them
            stats["min"], stats["max"] = series.min().isoformat(), series.max().isoformat()
        return stats
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        sample = _sample(series, TEXT_STATS_SAMPLE).dropna()
        if len(sample):
            counts = sample.value_counts()
            stats["unique"] = int(len(counts))
            stats["top"] = _text(counts.index[0])
            stats["top_share"] = _number(counts.iloc[0] / len(sample))
            if pd.api.types.is_string_dtype(dtype):
                stats["mean_length"] = _number(sample.astype(str).str.len().mean())
        return stats
    return stats


def _null_count(series: Any) -> int:
    """Missing values of a column: none in numpy integers and booleans, NaN in numpy floats (without the
    boolean Series isna() builds: counting nulls was a third of a 1,000,000-row frame's statistics, issue 7)."""
    import numpy as np

    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return 0
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return int(np.count_nonzero(np.isnan(series.to_numpy())))
    return int(series.isna().sum())


def _numeric_stats(sample: Any) -> dict[str, Any]:
    import numpy as np

    quantiles = np.quantile(sample, QUANTILES)
    low, high = float(quantiles[0]), float(quantiles[-1])
    counts, edges = np.histogram(sample, bins=HISTOGRAM_BINS, range=(low, high) if high > low else None)
    return {
        "min": _number(low),
        "max": _number(high),
        "mean": _number(sample.mean()),
        "std": _number(sample.std()),
        "quantiles": [_number(q) for q in quantiles],
        "histogram": {"edges": [_number(e) for e in edges], "counts": [int(c) for c in counts]},
        "sample": int(len(sample)),
    }


@contextlib.contextmanager
def _quiet_numerics() -> Iterator[None]:
    """Overflow in a statistic of extreme values must not print warnings into the user's cell."""
    import numpy as np

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _sample(series: Any, size: int) -> Any:
    step = max(1, math.ceil(len(series) / size))
    return series.iloc[::step]


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _text(value: Any, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(name: Any) -> Any:
    """A column label as plain Python, so numpy.int64(3) and 3 name the same column."""
    return name.item() if hasattr(name, "item") and callable(name.item) else name


def _update(hasher: Any, *parts: Any) -> None:
    """Feed framing values (names, dtypes, shapes) unambiguously: each part is length-prefixed."""
    for part in parts:
        encoded = repr(part).encode("utf-8", "surrogatepass")
        hasher.update(len(encoded).to_bytes(8, "little"))
        hasher.update(encoded)
