"""Per-batch reshaping of nested columns: list columns exploded into rows (:class:`Explode`)
and struct columns unnested into columns (:class:`Unnest`), vectorised with Arrow.

Each is a picklable callable over one record batch (the function of a
:class:`~sabot_lab.logical.Map` that :meth:`~sabot_lab.stream.Stream.explode` and
:meth:`~sabot_lab.stream.Stream.unnest` append), with the output schema it gives for an input
schema. May import: pyarrow, numpy and sabot-lab's errors.

>>> batch = pa.record_batch({"k": [1, 2, 3], "l": [[10, 20], [], None]})
>>> Explode(["l"])(batch).to_pydict()
{'k': [1, 1, 3], 'l': [10, 20, None]}
>>> Explode(["l"], empty_as_null=True, keep_nulls=False)(batch).to_pydict()
{'k': [1, 1, 2], 'l': [10, 20, None]}
>>> Unnest(["s"])(pa.record_batch({"s": [{"a": 1, "b": "x"}, None]})).to_pydict()
{'a': [1, None], 'b': ['x', None]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import ComputeError, SchemaError, column_not_found

__all__ = ["Explode", "Unnest"]


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


@dataclass(frozen=True)
class Explode:
    """One row per element of the list ``columns`` (the other columns repeated), in order, as
    Polars' ``explode`` gives them: an empty list gives no row (one with a null if
    ``empty_as_null``), a null list one row with a null (none unless ``keep_nulls``). The
    lists of a row must have as many elements in every column exploded together."""

    columns: Sequence[str]
    empty_as_null: bool = False
    keep_nulls: bool = True

    def schema(self, input_schema: pa.Schema) -> pa.Schema:
        """The input columns, each list column of ``columns`` as its element type.

        >>> Explode(["l"]).schema(pa.schema([("k", pa.int8()), ("l", pa.list_(pa.string()))]))
        k: int8
        l: string
        """
        fields = []
        for name in self.columns:
            if name not in input_schema.names:
                raise column_not_found(name, input_schema.names)
        for field in input_schema:
            if field.name in self.columns:
                if not _is_list(field.type):
                    raise SchemaError(
                        f"explode() takes list columns; '{field.name}' is {field.type} "
                        "(a string column splits into a list with str.split first)"
                    )
                field = field.with_type(field.type.value_type)
            fields.append(field)
        return pa.schema(fields)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        lists = [batch.column(name) for name in self.columns]
        lengths = [pc.fill_null(pc.list_value_length(a), 0).to_numpy() for a in lists]
        for name, other in zip(self.columns[1:], lengths[1:], strict=True):
            if not np.array_equal(lengths[0], other):
                raise ComputeError(
                    f"explode(): the lists of '{self.columns[0]}' and '{name}' differ in "
                    "length on some row; columns exploded together need lists of equal length"
                )
        found = lengths[0].astype(np.int64)
        valid = pc.is_valid(lists[0]).to_numpy(zero_copy_only=False)
        padded = np.where(valid, self.empty_as_null, self.keep_nulls)
        rows_out = np.maximum(found, padded.astype(np.int64))
        row = np.repeat(np.arange(batch.num_rows), rows_out)
        start_out = np.cumsum(rows_out) - rows_out
        within = np.arange(len(row)) - start_out[row]
        element = (np.cumsum(found) - found)[row] + within
        take = pa.array(element, mask=within >= found[row])
        columns = []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name in self.columns:
                columns.append(_flat_values(column).take(take))
            else:
                columns.append(column.take(pa.array(row)))
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _flat_values(lists: pa.Array) -> pa.Array:
    """The elements of the non-null lists, in order (those of a null list left out, even where
    its slot holds some)."""
    if lists.null_count:
        lists = pc.filter(lists, pc.is_valid(lists))
    return pc.list_flatten(lists)


@dataclass(frozen=True)
class Unnest:
    """The struct ``columns`` replaced, where they stand, by their fields as columns (null
    where the struct is null), as Polars' ``unnest`` does."""

    columns: Sequence[str]

    def schema(self, input_schema: pa.Schema) -> pa.Schema:
        """The input columns, each struct column of ``columns`` as its fields.

        >>> Unnest(["s"]).schema(pa.schema([("s", pa.struct([("a", pa.int8())])), ("k", pa.string())]))
        a: int8
        k: string
        """
        for name in self.columns:
            if name not in input_schema.names:
                raise column_not_found(name, input_schema.names)
        fields: list[pa.Field] = []
        for field in input_schema:
            if field.name not in self.columns:
                fields.append(field)
            elif pa.types.is_struct(field.type):
                fields.extend(field.type.field(i) for i in range(field.type.num_fields))
            else:
                raise SchemaError(f"unnest() takes struct columns; '{field.name}' is {field.type}")
        return pa.schema(fields)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns, names = [], []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name not in self.columns:
                columns.append(column)
                names.append(name)
                continue
            for i in range(column.type.num_fields):
                columns.append(pc.struct_field(column, [i]))
                names.append(column.type.field(i).name)
        return pa.RecordBatch.from_arrays(columns, names=names)
