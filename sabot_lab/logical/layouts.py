"""The column layouts the engine computes on, and the conversion of source data to them.

Arrow has three layouts for text and for bytes: ``string``/``binary`` (32-bit offsets),
``large_string``/``large_binary`` (64-bit offsets) and ``string_view``/``binary_view``
(what Polars, ``tpchgen-cli`` and newer Arrow writers produce). Most Arrow compute kernels
(sorting, ``take``, ``min``/``max``, comparisons) do not take the view layouts, so a SOURCE
operator hands its rows on with views turned into ``string``/``binary`` (also inside lists
and structs): every operator downstream sees the two offset layouts only, results of view
inputs are ``string``/``binary`` columns, as DuckDB returns them. ``large_*`` columns keep
their layout. A source's fields also lose their nullability flag and their metadata
(``PARQUET:field_id``), so rows of two sources, or of a source and a checkpoint, compare by
name and type only. Dictionary-encoded text where the schema declares the values' type (the
Nexmark generator's pooled strings, also as fields of a struct) is passed on encoded: it is
a layout of the same values, which the engine decodes wherever rows leave a pipeline.

Imports pyarrow and :mod:`sabot_lab.expr.dtypes`.

>>> import pyarrow as pa
>>> schema = pa.schema([pa.field("name", pa.string_view(), nullable=False, metadata={"k": "v"})])
>>> engine_schema(schema)
name: string
>>> batch = pa.record_batch([pa.array(["a", None], pa.string_view())], names=["name"])
>>> to_engine_layout(batch, engine_schema(batch.schema))["name"].type
DataType(string)
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.expr.dtypes import engine_type

__all__ = ["encodes", "engine_schema", "to_engine_layout"]


def engine_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a SOURCE operator's rows have in the engine: view layouts turned into
    ``string``/``binary``, every field nullable and without field metadata (the schema's own
    metadata stays).

    >>> engine_schema(pa.schema([("b", pa.binary_view()), ("n", pa.int64())]))
    b: binary
    n: int64
    """
    fields = [pa.field(f.name, engine_type(f.type)) for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def encodes(actual: pa.DataType, declared: pa.DataType) -> bool:
    """Whether values of type ``actual`` are values of ``declared`` with some of them
    dictionary-encoded (a dictionary of ``declared``, or a struct of such fields).

    >>> encodes(pa.dictionary(pa.int32(), pa.string()), pa.string())
    True
    >>> coded = pa.struct([("c", pa.dictionary(pa.int32(), pa.string())), ("n", pa.int64())])
    >>> encodes(coded, pa.struct([("c", pa.string()), ("n", pa.int64())]))
    True
    >>> encodes(pa.dictionary(pa.int32(), pa.string()), pa.large_string())
    False
    """
    if pa.types.is_dictionary(actual):
        return bool(actual.value_type == declared)
    if not (pa.types.is_struct(actual) and pa.types.is_struct(declared)):
        return False
    return actual.num_fields == declared.num_fields and all(
        a.name == d.name and (a.type == d.type or encodes(a.type, d.type))
        for a, d in zip(actual, declared, strict=True)
    )


def to_engine_layout(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` (read under a source's own schema) as a batch of ``schema``, its
    :func:`engine_schema`: view columns are cast, other columns are passed through uncopied
    (dictionary-encoded text too: see :func:`encodes`).

    >>> batch = pa.record_batch({"n": pa.array([1], pa.int64())})
    >>> to_engine_layout(batch, batch.schema) is batch
    True
    >>> coded = pa.record_batch({"s": pa.array(["a", "a"]).dictionary_encode()})
    >>> to_engine_layout(coded, pa.schema([("s", pa.string())]))["s"].type
    DictionaryType(dictionary<values=string, indices=int32, ordered=0>)
    """
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    columns = [
        column
        if column.type == field.type or encodes(column.type, field.type)
        else column.cast(field.type)
        for column, field in zip(batch.columns, schema, strict=True)
    ]
    fields = [field.with_type(column.type) for column, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=schema.metadata))
