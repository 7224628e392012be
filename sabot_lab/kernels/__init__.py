"""Compiled kernels (Cython) and the thin layer that feeds them Arrow arrays.

``hash_columns`` is the one row hash of sabot-lab: the in-process engine, hash partitioning and
(later) the cluster shuffle all use it, so a key lands in the same partition everywhere.

A leaf: may import nothing of sabot_lab but ``errors``.

>>> import pyarrow as pa
>>> from sabot_lab.kernels import hash_columns, hash_partition
>>> h = hash_columns([pa.array([1, 2, 1]), pa.array(["a", "b", "a"])])
>>> bool(h[0] == h[2]) and bool(h[0] != h[1])
True
>>> parts = hash_partition(pa.record_batch({"k": [1, 2, 3, 4]}), ["k"], 2)
>>> sum(p.num_rows for p in parts)
4
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import SchemaError
from sabot_lab.kernels.hash_table import JoinHashTable
from sabot_lab.kernels.hashing import hash_binary, hash_int64, pack_int64, partition_ids

__all__ = [
    "JoinHashTable",
    "hash_columns",
    "hash_partition",
    "is_integer_like",
    "key_codes",
    "packed_key_ranges",
    "partition_ids",
]

ArrayLike: TypeAlias = "pa.Array | pa.ChunkedArray"

_NO_NULLS = np.empty(0, dtype=np.uint8)


def is_integer_like(dtype: pa.DataType) -> bool:
    """True for types stored as integers: ints, bool, dates, times, timestamps, durations
    (not intervals, whose values are several numbers).

    >>> is_integer_like(pa.timestamp("us")), is_integer_like(pa.month_day_nano_interval())
    (True, False)
    """
    return (
        pa.types.is_integer(dtype)
        or pa.types.is_boolean(dtype)
        or (pa.types.is_temporal(dtype) and not pa.types.is_interval(dtype))
    )


def _contiguous(array: ArrayLike) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _validity(array: pa.Array) -> np.ndarray:
    if array.null_count == 0:
        return _NO_NULLS
    return pc.is_valid(array).to_numpy(zero_copy_only=False).view(np.uint8)


def _int64_values(array: pa.Array) -> np.ndarray:
    dtype = array.type
    if pa.types.is_boolean(dtype):
        array = array.cast(pa.int8())
    elif pa.types.is_temporal(dtype):
        width = dtype.bit_width
        array = array.view(pa.int32() if width == 32 else pa.int64())
    if array.type != pa.int64():
        array = pc.cast(array, pa.int64(), safe=False)
    if array.null_count:
        array = array.fill_null(0)
    return np.ascontiguousarray(array.to_numpy(zero_copy_only=False))


def _float_bits(array: pa.Array) -> np.ndarray:
    values = array.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False) + 0.0
    values = np.where(np.isnan(values), np.nan, values)  # one NaN, and -0.0 became 0.0
    return np.ascontiguousarray(values).view(np.int64)


def _hash_into(array: pa.Array, out: np.ndarray, first: bool) -> None:
    dtype = array.type
    valid = _validity(array)
    if is_integer_like(dtype):
        hash_int64(_int64_values(array), valid, out, first)
    elif pa.types.is_floating(dtype):
        hash_int64(_float_bits(array), valid, out, first)
    elif pa.types.is_string(dtype) or pa.types.is_binary(dtype):
        _hash_var(array, np.int32, valid, out, first)
    elif pa.types.is_large_string(dtype) or pa.types.is_large_binary(dtype):
        _hash_var(array, np.int64, valid, out, first)
    elif pa.types.is_null(dtype):  # every value is null
        hash_int64(np.zeros(len(array), np.int64), np.zeros(len(array), np.uint8), out, first)
    elif pa.types.is_decimal(dtype):
        _hash_into(array.cast(pa.string()), out, first)
    else:
        raise SchemaError(f"cannot use a column of type {dtype} as a key")


def _hash_var(
    array: pa.Array, offset_type: type, valid: np.ndarray, out: np.ndarray, first: bool
) -> None:
    buffers = array.buffers()
    offsets: np.ndarray = np.frombuffer(buffers[1], dtype=offset_type)[
        array.offset : array.offset + len(array) + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.empty(0, np.uint8)
    )
    hash_binary(data, np.ascontiguousarray(offsets), valid, out, first)


def hash_columns(columns: Sequence[ArrayLike]) -> np.ndarray:
    """One uint64 hash per row over all key columns (nulls hash to a fixed value)."""
    if not columns:
        raise ValueError("hash_columns needs at least one column")
    arrays = [_contiguous(c) for c in columns]
    out = np.empty(len(arrays[0]), dtype=np.uint64)
    for i, array in enumerate(arrays):
        _hash_into(array, out, first=i == 0)
    return out


def key_codes(
    columns: Sequence[ArrayLike], ranges: Sequence[tuple[int, int]] | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """64-bit codes for hash-table lookups: ``(codes, valid, exact)``.

    A single integer-like key column is its own code (``exact``: equal codes mean equal keys);
    with ``ranges`` (:func:`packed_key_ranges` of the build side's keys), several integer-like
    keys pack into one exact code, and a row with a key outside its range is not valid (it
    matches no build row); anything else is hashed, and equal codes must be confirmed by
    comparing the keys. ``valid`` is a uint8 mask of rows whose keys are all non-null (empty
    when every row is).

    >>> codes, valid, exact = key_codes([pa.array([7, None, 9])])
    >>> codes.tolist(), valid.tolist(), exact
    ([7, 0, 9], [1, 0, 1], True)
    >>> keys = [pa.array([1, 2, 5]), pa.array([10, 11, 10])]
    >>> codes, valid, exact = key_codes(keys, [(1, 2), (10, 11)])
    >>> codes[valid == 1].tolist(), valid.tolist(), exact
    ([0, 3], [1, 1, 0], True)
    """
    arrays = [_contiguous(c) for c in columns]
    valid = _NO_NULLS
    if any(a.null_count for a in arrays):
        mask = np.ones(len(arrays[0]), dtype=np.bool_)
        for a in arrays:
            if a.null_count:
                mask &= _validity(a).astype(np.bool_)
        valid = mask.view(np.uint8)
    if len(arrays) == 1 and is_integer_like(arrays[0].type):
        return _int64_values(arrays[0]).view(np.uint64), valid, True
    if ranges is not None:
        codes, in_range = _packed_codes(arrays, ranges, valid)
        return codes, (_NO_NULLS if in_range.all() else in_range), True
    return hash_columns(arrays), valid, False


def packed_key_ranges(columns: Sequence[ArrayLike]) -> list[tuple[int, int]] | None:
    """Each key column's ``(min, max)`` when all are integer-like and every combination of
    their values fits one 63-bit code (see :func:`key_codes`); else None.

    >>> packed_key_ranges([pa.array([3, 1, None]), pa.array([20, 10, 30])])
    [(1, 3), (10, 30)]
    >>> packed_key_ranges([pa.array([1]), pa.array(["a"])]) is None
    True
    """
    arrays = [_contiguous(c) for c in columns]
    if not all(is_integer_like(a.type) for a in arrays):
        return None
    ranges = []
    span = 1
    for array in arrays:
        low_high = pc.min_max(pa.array(_int64_values(array), mask=_null_mask(array)))
        low, high = low_high["min"].as_py(), low_high["max"].as_py()
        if low is None:
            low = high = 0
        ranges.append((low, high))
        span *= high - low + 1
    return ranges if span < 1 << 63 else None


def _null_mask(array: pa.Array) -> np.ndarray | None:
    return None if array.null_count == 0 else ~_validity(array).view(np.bool_)


def _packed_codes(
    arrays: Sequence[pa.Array], ranges: Sequence[tuple[int, int]], valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    codes = np.empty(len(arrays[0]), dtype=np.uint64)
    in_range = valid.copy() if valid.size else np.ones(len(arrays[0]), dtype=np.uint8)
    for i, (array, (low, high)) in enumerate(zip(arrays, ranges, strict=True)):
        if not is_integer_like(array.type):
            raise SchemaError(
                f"join key of type {array.type} cannot match the other side's integer key"
                " packed with it; cast both keys to one type"
            )
        pack_int64(_int64_values(array), low, high, codes, in_range, i == 0)
    return codes, in_range


def hash_partition(
    batch: pa.RecordBatch, keys: Sequence[str], n_partitions: int
) -> list[pa.RecordBatch]:
    """Split a batch into ``n_partitions`` batches by the hash of its key columns."""
    ids = partition_ids(hash_columns([batch.column(k) for k in keys]), n_partitions)
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(n_partitions + 1))
    taken = batch.take(pa.array(order))
    return [taken.slice(bounds[i], bounds[i + 1] - bounds[i]) for i in range(n_partitions)]
