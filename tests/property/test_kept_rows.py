"""A filter's rows against Arrow's ``RecordBatch.filter``: masks keeping most rows or few, with
nulls or not, over columns of numbers, booleans, times, strings, structs and dictionaries, some
null exactly where the mask drops rows (filtered without their bitmap), sliced at any row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sabot_lab.engine.filter_validity import without_dropped_nulls
from sabot_lab.engine.stateless import kept_rows


def _batch(rng: np.random.Generator, rows: int, dropped: np.ndarray) -> pa.RecordBatch:
    def nulls(where_dropped: bool) -> np.ndarray:
        if where_dropped:  # every dropped row null, or only some of them
            return dropped & (rng.random(rows) < rng.choice([1.0, 0.5]))
        return rng.random(rows) < 0.2

    ints = rng.integers(-(10**6), 10**6, rows)
    texts = rng.choice(["", "a", 'b"c', "d,e\nf", "é"], rows)
    return pa.record_batch(
        {
            "i": pa.array(ints, mask=nulls(True)),
            "f": pa.array(ints / 7, mask=nulls(False)),
            "b": pa.array(ints % 2 == 0, mask=nulls(True)),
            "t": pa.array(ints, pa.timestamp("ms"), mask=nulls(True)),
            "s": pa.array(texts, pa.string(), mask=nulls(True)),
            "l": pa.array(texts, pa.large_string(), mask=nulls(False)),
            "d": pa.array(texts, mask=nulls(True)).dictionary_encode(),
            "r": pa.StructArray.from_arrays([pa.array(ints)], ["x"], mask=pa.array(nulls(True))),
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 300),
    keep=st.floats(0, 1),
    mask_nulls=st.booleans(),
    start=st.integers(0, 20),
)
def test_the_rows_are_arrows(
    seed: int, rows: int, keep: float, mask_nulls: bool, start: int
) -> None:
    rng = np.random.default_rng(seed)
    dropped = rng.random(rows + start) >= keep
    batch = _batch(rng, rows + start, dropped).slice(start)
    null_mask = rng.random(rows + start) < 0.1 if mask_nulls else None
    mask = pa.array(~dropped, mask=null_mask).slice(start)
    expected = batch.filter(mask)
    got = kept_rows(batch, mask)
    if expected.num_rows == 0:
        assert got is None
    else:
        assert got is not None
        assert got.equals(expected)


def test_a_batch_of_no_columns_keeps_its_row_count() -> None:
    rows = pa.record_batch({"x": [1, 2, 3]}).select([])
    kept = kept_rows(rows, pa.array([True, True, False]))
    assert kept is not None
    assert kept.num_rows == 2


def test_nulls_in_dropped_rows_lose_the_bitmap_and_a_kept_null_keeps_it() -> None:
    x = pa.array([1, None, 3, None, 5, 6, 7, 8, 9])
    assert without_dropped_nulls(x, pa.array([True, False] * 4 + [True])).null_count == 0
    kept_null = pa.array([True] * 9)
    assert without_dropped_nulls(x, kept_null) is x
    off_byte = x.slice(3)  # a bitmap not starting on a byte: left as it is
    assert without_dropped_nulls(off_byte, pa.array([False] * 6)) is off_byte
