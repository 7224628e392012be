"""Per-batch operators: filter, projection, and user functions (``map_batches``, ``flat_map``)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.booleans import as_bools
from sabot_lab.engine.evaluate import evaluate, evaluate_encoded
from sabot_lab.engine.filter_validity import without_dropped_nulls
from sabot_lab.engine.integer_ranges import integer_selection, range_filter
from sabot_lab.engine.staged_filter import filter_stages
from sabot_lab.errors import SabotError, UDFError, in_package
from sabot_lab.expr import Expr
from sabot_lab.expr.nodes import Column, StructField
from sabot_lab.logical.layouts import encodes

__all__ = [
    "align_batch",
    "conform",
    "dictionary_encoded",
    "evaluate_stages",
    "filter_batch",
    "flat_map_batch",
    "kept_rows",
    "map_batch",
    "materialize",
    "project_batch",
    "struct_fields_read",
]


def dictionary_encoded(array: pa.Array) -> pa.Array:
    """Dictionary-encode a string or binary column (other types are returned as they are).

    Batches inside a pipeline may carry such an encoding where the plan's type is the plain
    value type: taking rows then moves small integers instead of strings. It is undone by
    :func:`materialize` wherever batches leave a pipeline.

    >>> dictionary_encoded(pa.array(["a", "b", "a"])).type
    DictionaryType(dictionary<values=string, indices=int32, ordered=0>)
    """
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        return array.dictionary_encode()
    return array


def materialize(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Undo pipeline-internal dictionary encodings so the batch has exactly ``schema``.

    >>> b = pa.record_batch({"s": dictionary_encoded(pa.array(["x", None]))})
    >>> materialize(b, pa.schema([("s", pa.string())])).schema
    s: string
    """
    if batch.schema.equals(schema):
        return batch
    return batch.cast(schema)


def filter_batch(
    batch: pa.RecordBatch, predicate: Expr, columns: Sequence[str] | None = None
) -> pa.RecordBatch | None:
    """Rows where ``predicate`` is true (null counts as false); None if no row is left.

    With ``columns``, only those columns are kept (and copied): a filter fused with the
    projection after it. A predicate whose conjuncts compare integer, date or short decimal
    columns with constants (but those on dictionary-encoded columns, evaluated first) is
    evaluated on the columns' integers (:mod:`~sabot_lab.engine.integer_ranges`); the
    conjuncts of any other are evaluated one after the other
    (:mod:`~sabot_lab.engine.staged_filter`); once at most a third of the rows are left,
    the later ones are evaluated on those rows only (taking more rows costs more than
    comparing them: TPC-H Q14's second date bound).

    >>> from sabot_lab.expr import col
    >>> batch = pa.record_batch({"x": [1, 2, 3, None], "y": [4, 5, 6, 7]})
    >>> filter_batch(batch, (col("x") > 1) & (col("y") < 6), ["y"]).to_pydict()
    {'y': [5]}
    """
    ranges = range_filter(predicate, batch.schema)
    if ranges is not None:  # on the columns' integers, the rows kept taken once
        rows = None
        if ranges.coded is not None:  # once per distinct value: first
            coded = evaluate(ranges.coded, batch).fill_null(False)
            rows = np.flatnonzero(as_bools(coded))
            if not len(rows):
                return None
        selection = integer_selection(batch, ranges.ranges, rows)
        if selection is None:
            return None
        kept = batch if columns is None else batch.select(list(columns))
        if selection.dtype == bool:
            return kept_rows(kept, pa.array(selection))
        return kept.take(pa.array(selection))
    staged = evaluate_stages(batch, filter_stages(predicate, batch.schema), columns)
    if staged is None:
        return None
    batch, mask = staged
    if columns is not None:
        batch = batch.select(list(columns))
    return batch if mask is None else kept_rows(batch, mask)


def evaluate_stages(
    batch: pa.RecordBatch, stages: Sequence[Expr], columns: Sequence[str] | None = None
) -> tuple[pa.RecordBatch, pa.Array | None] | None:
    """A filter's conjuncts (``stages``, in :func:`filter_stages`'s order) evaluated on
    ``batch`` one after the other: the batch left and the mask of its rows that every stage
    keeps (None: all of them); None when no row is. Once at most a third of the rows are left
    and stages remain, the rows kept are copied (in ``columns`` and those the later stages
    read; None: all) and the later stages are evaluated on them only.

    >>> from sabot_lab.expr import col
    >>> batch = pa.record_batch({"x": [1, 2, 3, 4], "y": [4, 5, 6, 7]})
    >>> left, mask = evaluate_stages(batch, [col("x") > 1, col("y") < 7])
    >>> left.num_rows, mask.to_pylist()
    (4, [False, True, True, False])
    >>> left, mask = evaluate_stages(batch, [col("x") == 2, col("y") > 4])
    >>> left.to_pydict(), mask.to_pylist()
    ({'x': [2], 'y': [5]}, [True])
    """
    mask: pa.Array | None = None
    for i, stage in enumerate(stages):
        found = evaluate(stage, batch)
        mask = found if mask is None else pc.and_(mask, found)
        if i + 1 < len(stages) and mask.true_count * 3 <= len(mask):
            if columns is not None:  # the rows kept copied in the columns still read only
                read = set(columns).union(*(s.columns() for s in stages[i + 1 :]))
                batch = batch.select([name for name in batch.schema.names if name in read])
            kept = kept_rows(batch, mask)
            if kept is None:
                return None
            batch, mask = kept, None
    return batch, mask


def kept_rows(batch: pa.RecordBatch, mask: pa.Array) -> pa.RecordBatch | None:
    """The rows of ``batch`` where ``mask`` is true (the batch itself when all are); None if
    none. When most rows are kept, each column is filtered by the mask (faster than the
    indices of the rows kept, which a batch's filter takes), those whose nulls all lie in rows
    dropped without their validity bitmap (:mod:`sabot_lab.engine.filter_validity`).

    >>> kept_rows(pa.record_batch({"x": [1, 2]}), pa.array([None, True])).to_pydict()
    {'x': [2]}
    """
    kept_count = mask.true_count
    if mask.null_count == 0 and kept_count == len(mask):
        return batch
    if batch.num_columns and kept_count * 2 >= len(mask):  # most kept: columns one by one
        columns = [without_dropped_nulls(column, mask).filter(mask) for column in batch.columns]
        kept = pa.RecordBatch.from_arrays(columns, schema=batch.schema)
    else:  # few: the rows' indices found once, each column taken at them
        kept = batch.filter(mask)
    return kept if kept.num_rows else None


def struct_fields_read(exprs: Sequence[Expr]) -> bool:
    """True if ``exprs`` read a field of a struct column (``col("bid").struct.field("price")``).

    >>> from sabot_lab.expr import col
    >>> struct_fields_read([col("x") + 1]), struct_fields_read([col("s").struct.field("a")])
    (False, True)
    """
    return any(isinstance(e, StructField) for expr in exprs for e in expr.walk())


def project_batch(
    batch: pa.RecordBatch, exprs: Sequence[Expr], schema: pa.Schema
) -> pa.RecordBatch:
    """Evaluate ``exprs`` into a batch of ``schema``: columns passed through keep their
    encoding, and text computed once per distinct input comes dictionary-encoded
    (:func:`~sabot_lab.engine.evaluate.evaluate_encoded`).

    >>> from sabot_lab.expr import col
    >>> b = pa.record_batch({"c": ["Apple", "Baidu"] * 5_000})
    >>> out = project_batch(b, [col("c").str.lower().alias("l")], pa.schema([("l", pa.string())]))
    >>> out["l"].type, out["l"].to_pylist()[:2]
    (DictionaryType(dictionary<values=string, indices=int32, ordered=0>), ['apple', 'baidu'])
    """
    arrays = []
    for expr, field in zip(exprs, schema, strict=True):
        if isinstance(expr, Column):
            array = batch.column(expr.param("name"))
        else:
            array = evaluate_encoded(expr, batch)
        if encodes(array.type, field.type):
            arrays.append(array)
            continue
        arrays.append(array if array.type == field.type else array.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, names=schema.names)


def _udf_error(label: str, exc: BaseException) -> UDFError:
    """The error of a user function that raised ``exc``, with the user's own traceback: the
    engine's frames that called it are left out (they name the server's files)."""
    tb = exc.__traceback__
    while tb is not None and in_package(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    user_tb = "".join(traceback.format_exception(type(exc), exc, tb))
    return UDFError(f"user function in {label} raised {type(exc).__name__}: {exc}\n\n{user_tb}")


def conform(data: Any, schema: pa.Schema, label: str) -> pa.RecordBatch:
    """Turn a UDF's output (RecordBatch, Table, dict of columns, pandas frame) into ``schema``."""
    if isinstance(data, dict):
        data = pa.table(data)
    elif not isinstance(data, pa.RecordBatch | pa.Table) and hasattr(data, "to_dict"):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.RecordBatch | pa.Table):
        raise UDFError(
            f"user function in {label} returned {type(data).__name__}, expected a RecordBatch"
        )
    if data.schema.names != schema.names:
        raise UDFError(
            f"user function in {label} returned columns {data.schema.names}, "
            f"but its declared schema has {schema.names}"
        )
    if isinstance(data, pa.Table):
        data = data.combine_chunks()
        batches = data.to_batches()
        data = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=data.schema)
    if data.schema != schema:
        try:
            data = data.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UDFError(
                f"user function in {label} returned schema {data.schema}, expected {schema}: {exc}"
            ) from exc
    return data


def align_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The columns of ``schema``, by name, cast to its types (a union input joining the others).

    >>> align_batch(pa.record_batch({"b": [1], "a": ["x"]}), pa.schema([("a", pa.string()), ("b", pa.float64())])).to_pydict()
    {'a': ['x'], 'b': [1.0]}
    """
    return materialize(batch.select(schema.names), schema)


def map_batch(
    batch: pa.RecordBatch,
    fn: Callable[[pa.RecordBatch], Any],
    schema: pa.Schema,
    label: str,
    input_schema: pa.Schema,
) -> pa.RecordBatch | None:
    """Apply a user batch function; its exceptions come back as :class:`UDFError`."""
    try:
        out = fn(materialize(batch, input_schema))
    except SabotError:
        raise
    except Exception as exc:
        raise _udf_error(label, exc) from exc
    result = conform(out, schema, label)
    return result if result.num_rows else None


def flat_map_batch(
    batch: pa.RecordBatch,
    fn: Callable[[dict[str, Any]], Iterable[dict[str, Any]]],
    schema: pa.Schema,
    label: str,
) -> pa.RecordBatch | None:
    """Apply a user row function returning zero or more rows (dicts) per input row."""
    rows: list[dict[str, Any]] = []
    try:
        for row in batch.to_pylist():
            rows.extend(fn(row))
    except Exception as exc:
        raise _udf_error(label, exc) from exc
    if not rows:
        return None
    try:
        return pa.RecordBatch.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        raise UDFError(
            f"user function in {label} yielded rows that do not fit {schema}: {exc}"
        ) from exc
