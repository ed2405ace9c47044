"""Fingerprints: equal data hashes alike whatever its layout or process; any change shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.extra import pandas as hpd

from jupyter_tracker.capture.data import can_fingerprint, fingerprint, fingerprint_file

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numeric_dtypes = st.sampled_from(["<f8", "<f4", "<i8", "<i4", "<u2", "|i1", "|b1", "<c16", "<M8[ns]", "<m8[s]"])
arrays = numeric_dtypes.flatmap(
    lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12),
                             elements={"allow_nan": False} if dtype[1] in "fc" else None))

frames = hpd.data_frames(
    [
        hpd.column("amount", dtype=float, elements=st.floats(allow_nan=False, allow_infinity=False, width=64)),
        hpd.column("count", dtype=int, elements=st.integers(-2**40, 2**40)),
        hpd.column("label", elements=st.text(max_size=8), dtype=object),
        hpd.column("when", dtype="datetime64[ns]"),
    ],
    index=hpd.range_indexes(min_size=1, max_size=40),
)


# ------------------------------------------------------------------ equal data, equal hash

@PROPERTY
@given(arrays)
def test_memory_layout_does_not_change_an_array_hash(array):
    # Given the same values in C order, Fortran order, as a transposed view and byte-swapped
    c_order = np.ascontiguousarray(array)
    layouts = [np.asfortranarray(array), array.T.copy().T, array[::1]]
    if array.dtype.byteorder == "<":
        layouts.append(array.astype(array.dtype.newbyteorder(">")))
    # Then every layout hashes like the contiguous copy
    for layout in layouts:
        assert fingerprint(layout).hash == fingerprint(c_order).hash


@PROPERTY
@given(hnp.arrays("<f8", st.tuples(st.integers(1, 20), st.integers(1, 20))))
def test_a_transposed_view_hashes_like_its_contiguous_copy(array):
    view = array.T
    assert not view.flags.c_contiguous or 1 in array.shape
    assert fingerprint(view).hash == fingerprint(np.ascontiguousarray(view)).hash


@PROPERTY
@given(frames)
def test_a_dataframe_hashes_alike_however_it_is_stored(frame):
    # Given the same frame copied, rebuilt from records, with a materialised index and in Arrow strings
    rebuilt = pd.DataFrame({name: list(frame[name]) for name in frame.columns},
                           columns=frame.columns).astype(frame.dtypes.to_dict())
    materialised_index = frame.set_axis(pd.Index(np.asarray(frame.index), dtype="int64"), axis=0)
    reference = fingerprint(frame)
    # Then every copy has the same hash and the same per-column hashes
    for other in (frame.copy(deep=True), rebuilt, materialised_index, frame.iloc[::-1].iloc[::-1]):
        assert fingerprint(other).hash == reference.hash
        assert fingerprint(other).changed_columns(reference) == []


def test_string_columns_hash_alike_whether_sliced_chunked_or_rebuilt():
    # Given strings in pandas' Arrow-backed str dtype, one copy made of a slice of a bigger array
    words = pd.Series(["alpha", None, "", "gamma", "déjà vu"] * 3, dtype="str")
    bigger = pd.Series(["padding"] + list(words) + ["tail"], dtype="str")
    sliced = bigger.iloc[1:-1].reset_index(drop=True)
    # Then the slice hashes like the original
    assert fingerprint(sliced).hash == fingerprint(words).hash
    # And a null differs from an empty string
    assert fingerprint(words.fillna("")).hash != fingerprint(words).hash


def test_hashes_do_not_depend_on_the_process_or_its_hash_seed(tmp_path):
    # Given the same frame built in two processes with different PYTHONHASHSEED
    script = ("import numpy as np, pandas as pd\n"
              "from jupyter_tracker.capture.data import fingerprint\n"
              "frame = pd.DataFrame({'x': np.arange(1000) * 0.5, 's': [str(i) for i in range(1000)],\n"
              "                      'o': np.array([i if i % 2 else str(i) for i in range(1000)], dtype=object),\n"
              "                      'c': pd.Categorical(['a', 'b'] * 500)})\n"
              "print(fingerprint(frame).hash)")
    hashes = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        hashes.add(result.stdout.strip())
    # Then the hash is the same in every process
    assert len(hashes) == 1 and len(hashes.pop()) == 32


# ------------------------------------------------------------------ any change, a different hash

@PROPERTY
@given(arrays, st.data())
def test_any_one_changed_element_changes_an_array_hash(array, data):
    # Given one element changed to a different value
    position = tuple(data.draw(st.integers(0, side - 1)) for side in array.shape)
    changed = array.copy()
    flat = changed.view(np.uint8).reshape(array.shape + (-1,)) if array.dtype.itemsize else None
    flat[position + (0,)] ^= 1  # flip one bit of that element
    if np.array_equal(changed, array, equal_nan=array.dtype.kind in "fc"):
        return  # a bit flip into a distinct but equal encoding (e.g. -0.0)
    # Then the hash changes
    assert fingerprint(changed).hash != fingerprint(array).hash


@PROPERTY
@given(frames, st.data())
def test_any_one_changed_cell_changes_the_frame_and_names_its_column(frame, data):
    # Given one cell of one column replaced by a different value
    column = data.draw(st.sampled_from(list(frame.columns)))
    row = data.draw(st.integers(0, len(frame) - 1))
    changed = frame.copy(deep=True)
    old = frame[column].iloc[row]
    change = {"amount": lambda v: np.nextafter(v, np.inf), "count": lambda v: v + 1,
              "label": lambda v: str(v) + "x", "when": lambda v: pd.Timestamp(0) if pd.isna(v) else (
                  v - pd.Timedelta(1, "ns") if v == pd.Timestamp.max else v + pd.Timedelta(1, "ns"))}[column]
    new = change(old)
    changed.iloc[row, frame.columns.get_loc(column)] = new
    # Then the frame's hash changes and the change is pinned on that column alone
    before, after = fingerprint(frame), fingerprint(changed)
    assert after.hash != before.hash
    assert after.changed_columns(before) == [column]


@PROPERTY
@given(frames)
def test_a_renamed_column_or_a_changed_dtype_changes_the_hash(frame):
    reference = fingerprint(frame)
    renamed = frame.rename(columns={"amount": "total"})
    assert fingerprint(renamed).hash != reference.hash
    assert set(fingerprint(renamed).changed_columns(reference)) == {"amount", "total"}
    retyped = frame.astype({"count": "float64"})
    assert fingerprint(retyped).hash != reference.hash
    assert fingerprint(retyped).changed_columns(reference) == ["count"]


def test_values_of_different_types_that_print_alike_differ():
    assert fingerprint(np.array([1, "2"], dtype=object)).hash != fingerprint(np.array(["1", "2"], dtype=object)).hash
    assert fingerprint(np.arange(3, dtype="<i8")).hash != fingerprint(np.arange(3, dtype="<f8")).hash
    assert fingerprint(np.zeros((2, 3))).hash != fingerprint(np.zeros((3, 2))).hash


def test_reordered_rows_and_a_changed_index_change_the_hash():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    assert fingerprint(frame.iloc[::-1]).hash != fingerprint(frame).hash
    relabelled = frame.set_axis([10, 11, 12])
    assert fingerprint(relabelled).hash != fingerprint(frame).hash
    assert fingerprint(relabelled).changed_columns(fingerprint(frame)) == ["<index>"]


# ------------------------------------------------------------------ what is stored

def test_every_kind_of_column_gets_a_hash_and_json_safe_statistics():
    n = 2000
    frame = pd.DataFrame({
        "amount": np.linspace(-1, 1, n),
        "missing": np.where(np.arange(n) % 4 == 0, np.nan, 1.0),
        "flag": np.arange(n) % 3 == 0,
        "city": pd.Series(["Oslo", "Lima", None, "Oslo"] * (n // 4), dtype="str"),
        "mixed": np.array([i if i % 2 else str(i) for i in range(n)], dtype=object),
        "kind": pd.Categorical(["a", "b"] * (n // 2)),
        "nullable": pd.array([1, None] * (n // 2), dtype="Int64"),
        "when": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        "period": pd.period_range("2024-01", periods=n, freq="D"),
    })
    print_ready = json.loads(json.dumps(fingerprint(frame).to_dict()))
    stats = {c["name"]: c["stats"] for c in print_ready["columns"]}
    assert print_ready["shape"] == [n, 9] and print_ready["kind"] == "dataframe"
    assert stats["amount"]["min"] == -1.0 and stats["amount"]["max"] == 1.0
    assert len(stats["amount"]["quantiles"]) == 11 and sum(stats["amount"]["histogram"]["counts"]) == n
    assert stats["missing"]["nulls"] == n // 4
    assert stats["city"]["top"] == "Oslo" and stats["city"]["unique"] == 2 and stats["city"]["nulls"] == n // 4
    assert stats["nullable"]["nulls"] == n // 2
    assert stats["when"]["min"].startswith("2024-01-01")
    assert [c["name"] for c in print_ready["columns"]][-1] == "<index>"


def test_series_and_arrays_record_shape_and_kind():
    series = pd.Series([1.5, 2.5], name="price")
    assert fingerprint(series).kind == "series" and fingerprint(series).shape == (2,)
    assert fingerprint(series.rename("cost")).hash != fingerprint(series).hash
    array = np.ones((4, 5), dtype=np.float32)
    assert (fingerprint(array).kind, fingerprint(array).shape, fingerprint(array).nbytes) == ("ndarray", (4, 5), 80)
    assert fingerprint(np.array(3.0)).shape == ()


def test_only_dataframes_series_and_arrays_are_fingerprinted():
    assert can_fingerprint(pd.DataFrame()) and can_fingerprint(pd.Series(dtype=float)) and can_fingerprint(np.ones(2))
    for other in ([1, 2], {"a": 1}, "text", 3.0, None):
        assert not can_fingerprint(other)
    with pytest.raises(TypeError, match="cannot fingerprint list"):
        fingerprint([1, 2])


# ------------------------------------------------------------------ files

def test_a_file_hash_follows_its_bytes_not_its_name_or_time(tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    payload = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    first.write_bytes(payload)
    second.write_bytes(payload)
    os.utime(second, (0, 0))
    assert fingerprint_file(first).hash == fingerprint_file(second).hash
    assert fingerprint_file(first).nbytes == len(payload)
    second.write_bytes(payload[:-1] + bytes([payload[-1] ^ 1]))  # the last byte only
    assert fingerprint_file(first).hash != fingerprint_file(second).hash


def test_fingerprinting_does_not_import_pandas_or_numpy():
    script = ("import sys\nfrom jupyter_tracker.capture.data import can_fingerprint\n"
              "assert not can_fingerprint([1])\n"
              "print(sorted({'pandas', 'numpy', 'pyarrow'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
