"""What the engine's kernels can do with a column type: hash it (group keys, distinct rows,
``n_unique``), sort it, keep its first or last value, write it to a file format. A plan that
asks for more is refused where it is built, naming the column, its type and what to do,
instead of failing in a pyarrow kernel at run time.

Each answer comes from asking pyarrow's kernel about an empty column of the type (cached per
type), so it follows what the installed pyarrow supports.

Imports pyarrow and :mod:`sabot_lab.errors` only.

>>> require_hashable("tags", pa.list_(pa.string()), "a group_by key")
Traceback (most recent call last):
...
sabot_lab.errors.SchemaError: a group_by key cannot be column 'tags' of type list<item: string>: its values cannot be hashed; cast it to a simpler type (col("tags").cast(...)) or leave it out
"""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import SchemaError

__all__ = [
    "can_hash",
    "can_keep_first",
    "can_sort",
    "require_distinct_countable",
    "require_first_last",
    "require_hashable",
    "require_sortable",
    "require_writable",
]

_ERRORS = (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid)


def _partition_hashes(dtype: pa.DataType) -> bool:
    """Whether the engine's hash kernels (``sabot_lab.kernels.hash_columns``, which partition
    joins and group keys among tasks) take ``dtype``: numbers, booleans, dates, times,
    timestamps, durations, decimals, nulls, and the offset layouts of text and bytes."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    t = pa.types
    return (
        t.is_integer(dtype)
        or t.is_floating(dtype)
        or t.is_boolean(dtype)
        or (t.is_temporal(dtype) and not t.is_interval(dtype))
        or t.is_decimal(dtype)
        or t.is_null(dtype)
        or t.is_string(dtype)
        or t.is_binary(dtype)
        or t.is_large_string(dtype)
        or t.is_large_binary(dtype)
    )


@functools.lru_cache(maxsize=256)
def can_hash(dtype: pa.DataType) -> bool:
    """Whether columns of ``dtype`` can be keys: of a group_by, a join, distinct rows.

    >>> can_hash(pa.string()), can_hash(pa.map_(pa.string(), pa.int64()))
    (True, False)
    """
    if not _partition_hashes(dtype):
        return False
    try:
        pa.table({"k": pa.array([], dtype)}).group_by("k").aggregate([])
    except _ERRORS:
        return False
    return True


@functools.lru_cache(maxsize=256)
def can_sort(dtype: pa.DataType) -> bool:
    """Whether columns of ``dtype`` can be sort keys.

    >>> can_sort(pa.large_string()), can_sort(pa.list_(pa.int64()))
    (True, False)
    """
    try:
        pc.sort_indices(pa.table({"k": pa.array([], dtype)}), sort_keys=[("k", "ascending")])
    except _ERRORS:
        return False
    return True


@functools.lru_cache(maxsize=256)
def can_keep_first(dtype: pa.DataType) -> bool:
    """Whether ``first``/``last`` of a column of ``dtype`` can be kept per group.

    >>> can_keep_first(pa.string()), can_keep_first(pa.struct([("a", pa.int64())]))
    (True, False)
    """
    table = pa.table({"k": pa.array([], pa.int64()), "v": pa.array([], dtype)})
    try:
        table.group_by("k", use_threads=False).aggregate([("v", "first")])
    except _ERRORS:
        return False
    return True


def _refuse(use: str, column: str, dtype: pa.DataType, reason: str) -> SchemaError:
    return SchemaError(
        f"{use} cannot be column {column!r} of type {dtype}: {reason}; cast it to a simpler "
        f'type (col("{column}").cast(...)) or leave it out'
    )


def require_hashable(column: str, dtype: pa.DataType, use: str) -> None:
    """Refuse ``column`` as ``use`` (``"a group_by key"``…) if its values cannot be hashed.

    >>> require_hashable("s", pa.large_string(), "a group_by key")
    """
    if not can_hash(dtype):
        raise _refuse(use, column, dtype, "its values cannot be hashed")


def require_sortable(column: str, dtype: pa.DataType) -> None:
    """Refuse ``column`` (a column name or an expression's text) as a sort key if it cannot be
    sorted.

    >>> require_sortable("m", pa.map_(pa.string(), pa.int64()))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: a sort key cannot be column 'm' of type map<string, int64>: its values cannot be ordered; cast it to a simpler type (col("m").cast(...)) or leave it out
    """
    if not can_sort(dtype):
        raise _refuse("a sort key", column, dtype, "its values cannot be ordered")


def require_distinct_countable(column: str, dtype: pa.DataType) -> None:
    """Refuse ``n_unique()`` of ``column`` if its values cannot be hashed (or have no type:
    pyarrow's distinct count crashes on a column of type null).

    >>> require_distinct_countable("x", pa.null())
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: the argument of n_unique() cannot be column 'x' of type null: its values cannot be hashed; cast it to a simpler type (col("x").cast(...)) or leave it out
    """
    if pa.types.is_null(dtype) or not can_hash(dtype):
        raise _refuse("the argument of n_unique()", column, dtype, "its values cannot be hashed")


def require_first_last(column: str, dtype: pa.DataType, fn: str) -> None:
    """Refuse ``first``/``last`` (``fn``) of ``column`` if the kernel cannot keep its values.

    >>> require_first_last("x", pa.int64(), "first")
    """
    if not can_keep_first(dtype):
        raise _refuse(f"the argument of {fn}()", column, dtype, f"{fn}() cannot keep its values")


def require_writable(schema: pa.Schema, file_format: str) -> None:
    """Refuse to write ``schema`` as ``file_format`` (``"csv"``, ``"parquet"``) if a column
    has values the format has no form for: nested values in CSV, unions in Parquet, intervals
    in either.

    >>> require_writable(pa.schema([("u", pa.struct([("a", pa.int64())]))]), "csv")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: a csv column cannot be column 'u' of type struct<a: int64>: csv has no form for its values; cast it to a simpler type (col("u").cast(...)) or leave it out
    """
    refused = pa.types.is_nested if file_format == "csv" else pa.types.is_union
    for field in schema:
        if refused(field.type) or pa.types.is_interval(field.type):
            raise _refuse(
                f"a {file_format} column",
                field.name,
                field.type,
                f"{file_format} has no form for its values",
            )
