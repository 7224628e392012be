"""Per-batch operators: filter, projection, and user functions (``map_batches``, ``flat_map``)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.errors import SabotError, UDFError
from sabot_lab.expr import Expr, evaluate

__all__ = ["conform", "filter_batch", "flat_map_batch", "map_batch", "project_batch"]


def filter_batch(batch: pa.RecordBatch, predicate: Expr) -> pa.RecordBatch | None:
    """Rows where ``predicate`` is true (null counts as false); None if no row is left."""
    mask = evaluate(predicate, batch)
    if mask.null_count == 0 and mask.true_count == len(mask):
        return batch
    kept = batch.filter(mask)
    return kept if kept.num_rows else None


def project_batch(batch: pa.RecordBatch, exprs: Sequence[Expr], schema: pa.Schema) -> pa.RecordBatch:
    """Evaluate ``exprs`` into a batch of ``schema``."""
    arrays = []
    for expr, field in zip(exprs, schema, strict=True):
        array = evaluate(expr, batch)
        arrays.append(array if array.type == field.type else array.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _udf_error(label: str, exc: BaseException) -> UDFError:
    user_tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return UDFError(f"user function in {label} raised {type(exc).__name__}: {exc}\n\n{user_tb}")


def conform(data: Any, schema: pa.Schema, label: str) -> pa.RecordBatch:
    """Turn a UDF's output (RecordBatch, Table, dict of columns, pandas frame) into ``schema``."""
    if isinstance(data, dict):
        data = pa.table(data)
    elif not isinstance(data, pa.RecordBatch | pa.Table) and hasattr(data, "to_dict"):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.RecordBatch | pa.Table):
        raise UDFError(f"user function in {label} returned {type(data).__name__}, expected a RecordBatch")
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


def map_batch(batch: pa.RecordBatch, fn: Callable[[pa.RecordBatch], Any], schema: pa.Schema, label: str) -> pa.RecordBatch | None:
    """Apply a user batch function; its exceptions come back as :class:`UDFError`."""
    try:
        out = fn(batch)
    except SabotError:
        raise
    except Exception as exc:
        raise _udf_error(label, exc) from exc
    result = conform(out, schema, label)
    return result if result.num_rows else None


def flat_map_batch(
    batch: pa.RecordBatch, fn: Callable[[dict[str, Any]], Iterable[dict[str, Any]]], schema: pa.Schema, label: str
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
        raise UDFError(f"user function in {label} yielded rows that do not fit {schema}: {exc}") from exc
