"""Evaluating an expression once per distinct combination of the strings it reads.

Streams often carry strings that repeat (Nexmark's channels and urls, status codes, country
names): an expression of such columns alone (``CASE WHEN LOWER(channel) = 'apple' THEN ...``,
``SPLIT_INDEX(url, '/', 3)``) gives the same value wherever its inputs are the same, so
:func:`on_distinct_strings` computes it over the distinct combinations of those inputs (a few
rows) and takes the results back to the batch's rows: one hash of each input column and one
``take`` instead of every kernel of the expression over every row. :func:`encoded` keeps each
thread's last dictionary encodings, as several expressions of one batch read the same column.

An expression reading only one column or struct field that comes dictionary-encoded (a Parquet
column read through its dictionary, a Nexmark bid's channel) takes this way however cheap it
is (``l_shipmode IN ('AIR', 'RAIL')``): its values are the dictionary's few, and the rows'
codes are their combinations already.

The expression must be row-wise and deterministic (no aggregate, window or non-deterministic
user function) and read only string columns (or string fields of struct columns); its rows
must be many and their inputs repeat (checked on the first rows, then on the whole batch).
Otherwise, or when evaluation fails on the distinct values (the rows' own evaluation then
reports the error naming the expression), the answer is None.

Imports pyarrow, numpy and :mod:`sabot_lab.expr`.

>>> import pyarrow as pa
>>> from sabot_lab.engine.evaluate import evaluate
>>> from sabot_lab.expr import col
>>> batch = pa.record_batch({"s": ["a-b", "c-d", None] * 3_000})
>>> part = col("s").str.split_part("-", 2).str.upper()
>>> on_distinct_strings(part, batch, evaluate).to_pylist()[:4]
['B', 'D', None, 'B']
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.identity_cache import IdentityCache
from sabot_lab.errors import SabotError
from sabot_lab.expr import col
from sabot_lab.expr.nodes import (
    Aggregate,
    Case,
    Column,
    ConcatStr,
    Expr,
    Over,
    ParseTemporal,
    StringFunction,
    StructField,
    UserFunction,
    WindowFunction,
)
from sabot_lab.expr.types import is_string

__all__ = [
    "MIN_ROWS",
    "DistinctInputs",
    "as_dictionary",
    "distinct_inputs",
    "encoded",
    "encoded_if_cached",
    "input_value",
    "on_distinct_strings",
    "per_distinct_strings",
    "repeats",
]

Value: TypeAlias = "pa.Array | pa.ChunkedArray | pa.Scalar"

MIN_ROWS = 4_096
"""Batches of at most this many rows are evaluated row by row."""
SAMPLE_ROWS, SAMPLE_DISTINCT = 1_024, 64
"""An input repeats when its first ``SAMPLE_ROWS`` rows hold at most ``SAMPLE_DISTINCT``
distinct strings, and the whole batch at most one distinct value in 8 rows."""


class DistinctInputs(NamedTuple):
    """An expression's inputs (columns and struct fields of columns) and the expression over
    the columns ``"0"``, ``"1"``, … of a batch holding their distinct combinations."""

    inputs: tuple[Expr, ...]
    over_combinations: Expr


def _is_input(expr: Expr) -> bool:
    return isinstance(expr, Column) or (isinstance(expr, StructField) and _is_input(expr.args[0]))


_ROW_SPANNING = (Aggregate, WindowFunction, Over)


_COSTLY = (Case, ConcatStr, ParseTemporal, StringFunction, UserFunction)
"""Nodes costing more per row than hashing a string: comparisons and ``IN`` lists of plain
strings are as cheap as Arrow's kernels are over every row."""


def _costly(expr: Expr) -> bool:
    return isinstance(expr, _COSTLY) or any(_costly(arg) for arg in expr.args)


def _rewrite(expr: Expr, inputs: dict[tuple[object, ...], tuple[Expr, Expr]]) -> Expr | None:
    """``expr`` with each input replaced by its column of the combinations (None: the
    expression is not row-wise and deterministic); ``inputs`` gathers the inputs."""
    if _is_input(expr):
        found = inputs.setdefault(expr.key(), (expr, col(str(len(inputs)))))
        return found[1]
    if isinstance(expr, _ROW_SPANNING):
        return None
    if isinstance(expr, UserFunction) and not expr.param("deterministic", True):
        return None
    args = []
    for arg in expr.args:
        new = _rewrite(arg, inputs)
        if new is None:
            return None
        args.append(new)
    return expr.with_args(args) if expr.args else expr


_PLANS: IdentityCache[tuple[DistinctInputs | None, bool]] = IdentityCache(limit=4_096)
"""Each expression's :class:`DistinctInputs` and whether it is costly, by its identity."""


def distinct_inputs(expr: Expr) -> DistinctInputs | None:
    """The inputs of ``expr`` and ``expr`` over their combinations; None for expressions
    that are not row-wise and deterministic, read no column, or cost less per row than
    hashing a string (no string function, ``CASE``, user function...).

    >>> from sabot_lab.expr import col
    >>> distinct_inputs((col("s").str.lower() == col("t").struct.field("u")).alias("x"))
    DistinctInputs(inputs=(col("s"), col("t").struct.field("u")), over_combinations=(col("0").str.lower() == col("1")).alias("x"))
    >>> distinct_inputs(col("s").str.lower().sum()) is None, distinct_inputs(col("s") == "a") is None
    (True, True)
    """
    plan, costly = _planned(expr)
    return plan if costly else None


def _planned(expr: Expr) -> tuple[DistinctInputs | None, bool]:
    """:func:`distinct_inputs` of ``expr`` however cheap it is, and whether it is costly."""
    return _PLANS.get(expr, lambda: _plan(expr))


def _plan(expr: Expr) -> tuple[DistinctInputs | None, bool]:
    inputs: dict[tuple[object, ...], tuple[Expr, Expr]] = {}
    rewritten = _rewrite(expr, inputs)
    plan = None
    if rewritten is not None and inputs:
        plan = DistinctInputs(tuple(leaf for leaf, _ in inputs.values()), rewritten)
    return plan, _costly(expr)


_ENCODED = threading.local()
"""Each thread's last few dictionary encodings, by the buffers they encode: the same column
feeds several expressions of one batch (Nexmark q22's three ``SPLIT_INDEX`` of ``url``)."""


def _encodings() -> dict[tuple[int, ...], tuple[pa.Array, pa.DictionaryArray]]:
    """The thread's cached encodings by :func:`_buffers_key`."""
    cache: dict[tuple[int, ...], tuple[pa.Array, pa.DictionaryArray]]
    cache = _ENCODED.__dict__.setdefault("by_buffers", {})
    return cache


def _buffers_key(value: pa.Array) -> tuple[int, ...]:
    return (value.offset, len(value), *(b.address if b else 0 for b in value.buffers()))


def encoded(value: pa.Array) -> pa.DictionaryArray:
    """``value`` dictionary-encoded (a null is a value of the dictionary: the indices have no
    nulls), from the thread's cache when it was the last time.

    >>> encoded(pa.array(["a", None, "a"])).indices.to_pylist()
    [0, 1, 0]
    """
    key = _buffers_key(value)
    cache = _encodings()
    found = cache.get(key)
    if found is None:
        if len(cache) >= 4:
            cache.clear()
        found = (value, pc.dictionary_encode(value, null_encoding="encode"))
        cache[key] = found  # value kept: its buffers stay alive while they are a key
    return found[1]


def encoded_if_cached(value: pa.Array) -> pa.Array:
    """``value``'s encoding when the thread's cache holds one (an expression over it was just
    evaluated once per distinct string), else ``value`` itself: a filter then moves small
    integers instead of strings, and expressions after it read the encoding without
    encoding the column again.

    >>> strings = pa.array(["a", "b"] * 3)
    >>> encoded_if_cached(strings) is strings
    True
    >>> codes = encoded(strings)
    >>> encoded_if_cached(strings) is codes
    True
    """
    if not isinstance(value, pa.Array) or not is_string(value.type):
        return value
    found = _encodings().get(_buffers_key(value))
    return value if found is None else found[1]


def per_distinct_strings(expr: Expr, schema: pa.Schema) -> bool:
    """Whether :func:`on_distinct_strings` may evaluate ``expr`` over batches of ``schema``
    (an expression worth computing once per distinct string, reading only strings).

    >>> from sabot_lab.expr import col
    >>> schema = pa.schema([("s", pa.string()), ("n", pa.int64())])
    >>> per_distinct_strings(col("s").str.lower(), schema), per_distinct_strings(col("n") + 1, schema)
    (True, False)
    """
    plan = distinct_inputs(expr)
    return plan is not None and _reads_strings(plan, schema)


def _reads_strings(plan: DistinctInputs, schema: pa.Schema) -> bool:
    """Whether every input of ``plan`` is a string in batches of ``schema``."""
    return all(is_string(_input_type(leaf, schema)) for leaf in plan.inputs)


def repeats(value: pa.Array) -> bool:
    """Whether ``value`` holds few distinct values in its first rows (a cheap test before
    encoding it all).

    >>> repeats(pa.array(["a", "b"] * 1_000)), repeats(pa.array([str(i) for i in range(2_000)]))
    (True, False)
    """
    sample = value.slice(0, SAMPLE_ROWS)
    return bool(pc.count_distinct(sample, mode="all").as_py() <= SAMPLE_DISTINCT)


def on_distinct_strings(
    expr: Expr,
    batch: pa.RecordBatch,
    evaluate: Callable[[Expr, pa.RecordBatch], Value],
    *,
    keep_encoded: bool = False,
) -> Value | None:
    """``evaluate(expr, batch)`` computed over the distinct combinations of the strings
    ``expr`` reads and taken back to the rows; None when that does not apply (see the
    module's text). ``keep_encoded``: a string result is not taken back but given
    dictionary-encoded (:func:`as_dictionary`), a layout of the same values that a
    projection passes on.

    >>> from sabot_lab.engine.evaluate import evaluate
    >>> from sabot_lab.expr import col, lit, when
    >>> b = pa.record_batch({"c": ["x", "y"] * 5_000, "n": list(range(10_000))})
    >>> e = when(col("c") == "x").then(lit("first")).otherwise(col("c"))
    >>> on_distinct_strings(e, b, evaluate).to_pylist()[:3]
    ['first', 'y', 'first']
    >>> on_distinct_strings(col("n") + 1, b, evaluate) is None  # reads a number
    True
    >>> coded = pa.record_batch({"c": pa.array(["x", "y"] * 5_000).dictionary_encode()})
    >>> on_distinct_strings(col("c") == "x", coded, evaluate).to_pylist()[:3]  # cheap, coded
    [True, False, True]
    >>> on_distinct_strings(e, b, evaluate, keep_encoded=True).type
    DictionaryType(dictionary<values=string, indices=int32, ordered=0>)
    """
    if batch.num_rows <= MIN_ROWS:
        return None
    plan, costly = _planned(expr)
    if plan is None or not (costly or (len(plan.inputs) == 1 and _coded(plan.inputs[0], batch))):
        return None
    if not _reads_strings(plan, batch.schema):
        return None
    encodings = []
    for leaf in plan.inputs:
        encoding = _encoding(leaf, batch, evaluate)
        if encoding is None:
            return None
        encodings.append(encoding)
    dictionaries, codes = _combinations(encodings, batch.num_rows // 8)
    if codes is None:
        return None
    small = pa.record_batch(dictionaries, names=[str(i) for i in range(len(dictionaries))])
    try:
        result = evaluate(plan.over_combinations, small)
    except SabotError:  # the rows' own evaluation names the expression in its error
        return None
    if isinstance(result, pa.Scalar):
        return result
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    if result.null_count == len(result):  # no value to take back (q22's parts past the last)
        return pa.nulls(len(codes), result.type)
    if keep_encoded and is_string(result.type):
        return as_dictionary(result, codes)
    return _taken(result, codes)


def as_dictionary(result: pa.Array, codes: pa.Array) -> pa.DictionaryArray:
    """``result.take(codes)`` as a dictionary array of the distinct values of ``result``,
    its null rows null in the indices (as a dictionary encoding of the rows would give
    them): only small integers are taken, and only when ``result`` repeats a value or
    holds a null.

    >>> coded = as_dictionary(pa.array(["a", None, "a"]), pa.array([0, 1, 2, 1], pa.int32()))
    >>> coded.dictionary.to_pylist(), coded.indices.to_pylist(), coded.to_pylist()
    (['a'], [0, None, 0, None], ['a', None, 'a', None])
    >>> as_dictionary(pa.array(["x", "y"]), pa.array([1, 0], pa.int32())).indices.to_pylist()
    [1, 0]
    """
    unique = pc.dictionary_encode(result)
    if result.null_count == 0 and len(unique.dictionary) == len(result):  # (codes as they are)
        return pa.DictionaryArray.from_arrays(codes, result)
    return pa.DictionaryArray.from_arrays(unique.indices.take(codes), unique.dictionary)


FEW_CODES = 2
"""A boolean result true (or false), or null (or not), for at most this many values is taken
to the rows by comparing their codes with those values': a few times cheaper than taking
bits."""


def _taken(result: pa.Array, codes: pa.Array) -> pa.Array:
    """``result.take(codes)``, by comparisons of the codes for a boolean ``result`` (a
    filter's conjunct) of at most :data:`FEW_CODES` true or false values and at most as
    many null or valid ones (:func:`_rows_coded`): its nulls become the rows' validity.

    >>> codes = pa.array([0, 1, 2, 1], pa.int32())
    >>> _taken(pa.array([False, True, False]), codes).to_pylist()
    [False, True, False, True]
    >>> _taken(pa.array([True, False, True]), codes).to_pylist()
    [True, False, True, False]
    >>> _taken(pa.array([True, True, True, None]), pa.array([3, 0, 2, 3], pa.int32())).to_pylist()
    [None, True, True, None]
    """
    if not pa.types.is_boolean(result.type):
        return result.take(codes)
    valid = result.is_valid().to_numpy(zero_copy_only=False)
    trues = _rows_coded(codes, valid & result.fill_null(False).to_numpy(zero_copy_only=False))
    if trues is None or not result.null_count:
        return result.take(codes) if trues is None else trues
    valids = _rows_coded(codes, valid)
    if valids is None:
        return result.take(codes)
    return pa.Array.from_buffers(pa.bool_(), len(codes), [valids.buffers()[1], trues.buffers()[1]])


def _rows_coded(codes: pa.Array, chosen: np.ndarray) -> pa.Array | None:
    """Whether each row's code is one of those ``chosen`` marks (a boolean array without
    nulls, its values from offset 0), by comparing the codes with the :data:`FEW_CODES` or
    fewer codes chosen, or not chosen; None when both are more.

    >>> _rows_coded(pa.array([0, 1, 2, 1], pa.int32()), np.array([True, False, True])).to_pylist()
    [True, False, True, False]
    """
    wanted = bool(np.count_nonzero(chosen) <= len(chosen) // 2)
    few = np.flatnonzero(chosen == wanted)
    if len(few) > FEW_CODES:
        return None
    if not len(few):
        return pa.repeat(pa.scalar(not wanted), len(codes))
    found = pc.equal(codes, pa.scalar(int(few[0]), codes.type))
    for code in few[1:]:
        found = pc.or_(found, pc.equal(codes, pa.scalar(int(code), codes.type)))
    return found if wanted else pc.invert(found)


def _coded(leaf: Expr, batch: pa.RecordBatch) -> bool:
    """Whether ``leaf`` is a dictionary-encoded column or struct field of ``batch``: an
    expression of such an input alone costs a ``take`` of its few results, however cheap."""
    return pa.types.is_dictionary(_held_type(leaf, batch.schema))


def input_value(leaf: Expr, batch: pa.RecordBatch) -> pa.Array:
    """The values of an input (a column, or a field of a struct column) as ``batch`` holds
    them: dictionary-encoded ones keep their encoding (evaluation decodes them).

    >>> s = pa.StructArray.from_arrays([pa.array(["x", "x"]).dictionary_encode()], ["c"])
    >>> input_value(col("s").struct.field("c"), pa.record_batch({"s": s})).type
    DictionaryType(dictionary<values=string, indices=int32, ordered=0>)
    """
    if isinstance(leaf, StructField):
        struct = input_value(leaf.args[0], batch)
        return pc.struct_field(struct, [struct.type.get_field_index(leaf.param("name"))])
    return batch.column(leaf.param("name"))


def _encoding(
    leaf: Expr, batch: pa.RecordBatch, evaluate: Callable[[Expr, pa.RecordBatch], Value]
) -> pa.DictionaryArray | None:
    """An input's values dictionary-encoded without null indices (a dictionary-encoded
    input's own encoding, its nulls coded); None when they do not repeat (a dictionary of
    more values than one in 8 rows)."""
    if _coded(leaf, batch):
        column = input_value(leaf, batch)
        assert isinstance(column, pa.DictionaryArray)
        if len(column.dictionary) > len(column) // 8:
            return None
        return _null_coded(column)
    value = evaluate(leaf, batch)
    if not isinstance(value, pa.Array) or not repeats(value):
        return None
    return encoded(value)


def _null_coded(column: pa.DictionaryArray) -> pa.DictionaryArray:
    """``column`` with a null as the last value of its dictionary, the code of its null rows
    (the same ``column`` when it has none).

    >>> _null_coded(pa.array(["a", None, "a"]).dictionary_encode()).indices.to_pylist()
    [0, 1, 0]
    """
    if column.indices.null_count == 0:
        return column
    size = len(column.dictionary)
    dictionary = pa.concat_arrays([column.dictionary, pa.nulls(1, column.dictionary.type)])
    indices = pc.fill_null(column.indices, pa.scalar(size, column.indices.type))
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _input_type(leaf: Expr, schema: pa.Schema) -> pa.DataType:
    """The type of an input (a column or a struct field) in a batch of ``schema``, its
    values' type when it is dictionary-encoded; null when there is no such input."""
    dtype = _held_type(leaf, schema)
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def _held_type(leaf: Expr, schema: pa.Schema) -> pa.DataType:
    """The type of an input (a column or a struct field) as a batch of ``schema`` holds it
    (maybe dictionary-encoded); null when there is no such input."""
    if isinstance(leaf, StructField):
        struct = _held_type(leaf.args[0], schema)
        index = struct.get_field_index(leaf.param("name")) if pa.types.is_struct(struct) else -1
        return struct.field(index).type if index >= 0 else pa.null()
    index = schema.get_field_index(leaf.param("name"))
    return schema.field(index).type if index >= 0 else pa.null()


def _combinations(
    encodings: list[pa.DictionaryArray], most: int
) -> tuple[list[pa.Array], pa.Array | None]:
    """The distinct combinations of the inputs' values (each row's encoded) and each row's
    combination; no rows when there are more than ``most`` combinations possible. Inputs
    numbered alike (Nexmark's channel and url: one number for both) combine as they are.

    >>> alike = [pa.DictionaryArray.from_arrays([0, 1, 0], d) for d in (["a", "b"], ["x", "y"])]
    >>> dictionaries, codes = _combinations(alike, 2)
    >>> [d.to_pylist() for d in dictionaries], codes.to_pylist()
    ([['a', 'b'], ['x', 'y']], [0, 1, 0])
    """
    sizes = [len(e.dictionary) for e in encodings]
    first = encodings[0].indices
    if sizes[0] <= most and all(
        size == sizes[0] and e.indices.equals(first)
        for e, size in zip(encodings[1:], sizes[1:], strict=True)
    ):
        return [e.dictionary for e in encodings], first
    if int(np.prod(sizes, dtype=np.float64)) > most:
        return [], None
    codes = encodings[0].indices.to_numpy(zero_copy_only=False).astype(np.int32)  # < most
    for e, size in zip(encodings[1:], sizes[1:], strict=True):
        codes *= size
        codes += e.indices.to_numpy(zero_copy_only=False)
    present = np.bincount(codes, minlength=int(np.prod(sizes))) > 0
    combinations = np.flatnonzero(present)
    row_codes = codes  # (each combination present: its code is its row of the combinations)
    if len(combinations) < len(present):
        row_codes = (np.cumsum(present, dtype=np.int32) - 1)[codes]
    dictionaries = []
    for e, size in reversed(list(zip(encodings, sizes, strict=True))):
        dictionaries.append(e.dictionary.take(pa.array(combinations % size)))
        combinations //= size
    return dictionaries[::-1], pa.array(row_codes)
