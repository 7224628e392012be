"""The compiled hash kernels against a plain numpy/Python reference of the same functions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sabot_lab.kernels import (
    JoinHashTable,
    hash_columns,
    hash_partition,
    key_codes,
    partition_ids,
)

U64 = np.uint64
NULL_HASH = U64(0x5AB07AB5AB07AB5A)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in numpy (uint64 arithmetic wraps like C)."""
    x = x.astype(U64)
    x ^= x >> U64(30)
    x *= U64(0xBF58476D1CE4E5B9)
    x ^= x >> U64(27)
    x *= U64(0x94D049BB133111EB)
    x ^= x >> U64(31)
    return x


def combine64(seed: np.ndarray, h: np.ndarray) -> np.ndarray:
    return mix64(seed ^ (h + U64(0x9E3779B97F4A7C15) + (seed << U64(6)) + (seed >> U64(2))))


def fnv_mixed(value: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in value:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return int(mix64(np.array([h ^ len(value)], dtype=U64))[0])


def reference_hash(column: pa.Array) -> np.ndarray:
    values = column.to_pylist()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        hashed = [NULL_HASH if v is None else U64(fnv_mixed(v.encode())) for v in values]
        return np.array(hashed, dtype=U64)
    ints = np.array([0 if v is None else int(v) for v in values], dtype=np.int64).view(U64)
    return np.where([v is None for v in values], NULL_HASH, mix64(ints)).astype(U64)


def reference_rows(columns: list[pa.Array]) -> np.ndarray:
    out = reference_hash(columns[0])
    for column in columns[1:]:
        out = combine64(out, reference_hash(column))
    return out


ints = st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=60)
strings = st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(values=ints)
def test_int64_hash_matches_reference(values: list[int | None]) -> None:
    column = pa.array(values, pa.int64())
    assert hash_columns([column]).tolist() == reference_rows([column]).tolist()


@settings(max_examples=60, deadline=None)
@given(values=strings, offset=st.integers(0, 5))
def test_string_hash_matches_reference_on_sliced_and_large_strings(
    values: list[str | None], offset: int
) -> None:
    column = pa.array(values, pa.string()).slice(min(offset, len(values)))
    expected = reference_rows([column]).tolist()
    assert hash_columns([column]).tolist() == expected
    assert hash_columns([column.cast(pa.large_string())]).tolist() == expected
    assert hash_columns([column.dictionary_encode()]).tolist() == expected
    chunked = pa.chunked_array([column[:3], column[3:]], pa.string())
    assert hash_columns([chunked]).tolist() == expected


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_multi_column_hash_combines_in_order(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 40))
    a = pa.array(
        data.draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n)),
        pa.int64(),
    )
    b = pa.array(
        data.draw(st.lists(st.one_of(st.none(), st.sampled_from("xyz")), min_size=n, max_size=n)),
        pa.string(),
    )
    assert hash_columns([a, b]).tolist() == reference_rows([a, b]).tolist()


def test_equal_values_of_equivalent_types_hash_equally() -> None:
    as_int64 = hash_columns([pa.array([1, -2, None, 3], pa.int64())])
    assert hash_columns([pa.array([1, -2, None, 3], pa.int32())]).tolist() == as_int64.tolist()
    assert hash_columns([pa.array([1, -2, None, 3], pa.int8())]).tolist() == as_int64.tolist()
    floats = hash_columns([pa.array([0.0, -0.0, float("nan"), -float("nan"), 1.5])])
    assert floats[0] == floats[1] and floats[2] == floats[3] and floats[4] != floats[0]
    all_null = hash_columns([pa.nulls(2)])
    assert (
        all_null.tolist()
        == [int(NULL_HASH)] * 2
        == hash_columns([pa.nulls(2, pa.string())]).tolist()
    )
    ts = pa.array([0, 10**12], pa.int64())
    assert hash_columns([ts.cast(pa.timestamp("us"))]).tolist() == hash_columns([ts]).tolist()
    with pytest.raises(Exception, match="cannot use a column of type list"):
        hash_columns([pa.array([[1]])])


@settings(max_examples=40, deadline=None)
@given(values=ints, parts=st.integers(1, 9))
def test_partitions_are_hash_modulo_and_keep_every_row_once(
    values: list[int | None], parts: int
) -> None:
    column = pa.array(values, pa.int64())
    hashes = hash_columns([column])
    ids = partition_ids(hashes, parts)
    assert ids.tolist() == (hashes % U64(parts)).astype(np.int32).tolist()
    batch = pa.record_batch({"k": column, "row": pa.array(range(len(values)), pa.int64())})
    pieces = hash_partition(batch, ["k"], parts)
    assert len(pieces) == parts
    seen = sorted(r for p in pieces for r in p["row"].to_pylist())
    assert seen == list(range(len(values)))
    for number, piece in enumerate(pieces):
        assert all(ids[r] == number for r in piece["row"].to_pylist())


def reference_pairs(
    build: np.ndarray, build_valid: np.ndarray, probe: np.ndarray, probe_valid: np.ndarray
) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i in range(len(probe))
        if probe_valid[i]
        for j in range(len(build))
        if build_valid[j] and build[j] == probe[i]
    ]


@settings(max_examples=80, deadline=None)
@given(
    build=st.lists(st.integers(-50, 50), max_size=50),
    probe=st.lists(st.integers(-60, 60), max_size=50),
    spread=st.sampled_from([1, 10**9]),
    nulls=st.booleans(),
)
def test_join_hash_table_probe_and_contains_match_nested_loops(
    build: list[int], probe: list[int], spread: int, nulls: bool
) -> None:
    build_codes = (np.array(build, dtype=np.int64) * spread).view(U64)
    probe_codes = (np.array(probe, dtype=np.int64) * spread).view(U64)
    build_valid = (np.arange(len(build)) % 3 != 0) if nulls else np.ones(len(build), bool)
    probe_valid = (np.arange(len(probe)) % 4 != 1) if nulls else np.ones(len(probe), bool)
    masks = [
        v.astype(np.uint8) if nulls else np.empty(0, np.uint8) for v in (build_valid, probe_valid)
    ]
    table = JoinHashTable(build_codes, masks[0], exact=True)
    distinct_valid = set(np.array(build, dtype=np.int64)[build_valid].tolist())
    if (
        distinct_valid
        and spread == 1
        and max(distinct_valid) - min(distinct_valid) < 4 * len(build)
    ):
        assert table.is_dense  # keys span at most 4x the rows: direct addressing
    if spread > 1 and len(distinct_valid) > 1:
        assert not table.is_dense
    assert table.has_filter == (not table.is_dense)  # a Bloom filter before open addressing
    probe_idx, build_idx = table.probe(probe_codes, masks[1])
    got = list(zip(probe_idx.tolist(), build_idx.tolist(), strict=True))
    expected = reference_pairs(build_codes, build_valid, probe_codes, probe_valid)
    assert sorted(got) == expected
    assert [i for i, _ in got] == sorted(i for i, _ in got)  # probe order is kept
    valid_build = set(build_codes[build_valid].tolist())
    expected_contains = [
        bool(v) and c in valid_build for c, v in zip(probe_codes.tolist(), probe_valid, strict=True)
    ]
    assert table.contains(probe_codes, masks[1]).tolist() == expected_contains
    assert table.num_rows == len(build)
    assert table.num_keys == len(valid_build)
    assert table.unique == (table.num_keys == int(build_valid.sum()))


def test_key_codes_are_exact_for_one_integer_key_and_hashed_otherwise() -> None:
    codes, valid, exact = key_codes([pa.array([5, None, -1])])
    assert exact and codes.view(np.int64).tolist() == [5, 0, -1] and valid.tolist() == [1, 0, 1]
    keys = [pa.array(["a", None]), pa.array([1, 2])]
    codes, valid, exact = key_codes(keys)
    assert not exact and codes.tolist() == hash_columns(keys).tolist()
    assert valid.tolist() == [1, 0]
    _, valid, _ = key_codes([pc.cast(pa.array([1, 2]), pa.int64())])
    assert valid.size == 0  # no nulls: an empty mask means every row is valid
