"""Avro datums as Arrow batches and back: the schema mapping and codec of ``format="avro"``.

An :class:`AvroCodec` is made from an Avro record schema (a dict, or its JSON text) or from an
Arrow schema, whose Avro schema is then derived. The types map both ways:

=============================================  ============================================
Avro                                           Arrow
=============================================  ============================================
``boolean``                                    ``bool``
``int``                                        ``int32`` (also written from int8, int16, uint8,
                                               uint16)
``long``                                       ``int64`` (also written from uint32)
``float`` / ``double``                         ``float32`` / ``float64``
``string`` (any ``enum`` is read as a string)  ``string`` (also written from large_string)
``bytes``                                      ``binary`` (also written from large_binary)
``null``                                       ``null``
``int`` ``date``                               ``date32``
``int`` ``time-millis``                        ``time32("ms")``
``long`` ``time-micros``                       ``time64("us")``
``long`` ``timestamp-millis|micros|nanos``     ``timestamp("ms"|"us"|"ns", tz="UTC")`` (instants:
                                               written from a timestamp with any time zone)
``long`` ``local-timestamp-millis|…``          ``timestamp("ms"|"us"|"ns")`` (no time zone)
``["null", T]`` (either order)                 a nullable column of T's type
=============================================  ============================================

Other logical types of these primitives (``uuid``...) read as the primitive, as the Avro
specification says; records, arrays, maps, fixed, decimals and other unions raise a
:class:`~sabot_lab.errors.SchemaError` naming the field and its type. Given an Arrow schema,
the decoded columns have exactly its types.

Decoding is columnar: the datums of a poll are joined into one buffer and read one field at a
time for every datum at once, with numpy (one read position per datum), so no Python object is
made per record or value. A datum that does not decode (truncated, written with another schema)
is reported with the reason; the others decode. Encoding is columnar too: each field's bytes
for all rows, then scattered into the datums.

>>> import pyarrow as pa
>>> codec = AvroCodec(pa.schema([("id", pa.int64()), ("name", pa.string())]))
>>> datums = codec.encode(pa.record_batch({"id": [1, 2], "name": ["a", None]}))
>>> datums
[b'\\x02\\x02\\x02\\x02a', b'\\x02\\x04\\x00']
>>> batch, bad = codec.decode(datums + [b"\\x02\\x06\\x02\\x08ab"])
>>> batch.to_pylist(), bad
([{'id': 1, 'name': 'a'}, {'id': 2, 'name': None}], [(2, "the datum ends inside field 'name' (truncated, or written with another schema)")])
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import SchemaError

__all__ = ["CONFLUENT_HEADER", "AvroCodec", "is_avro_schema"]

CONFLUENT_HEADER = 5
"""Bytes before the datum in Confluent's wire format: magic byte 0, then a 4-byte schema id."""

_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "bytes": pa.binary(),
}
"""Each Avro primitive's Arrow type."""
_LOGICAL: dict[tuple[str, str], pa.DataType] = {
    ("int", "date"): pa.date32(),
    ("int", "time-millis"): pa.time32("ms"),
    ("long", "time-micros"): pa.time64("us"),
    **{
        ("long", f"{local}timestamp-{name}"): pa.timestamp(unit, None if local else "UTC")
        for unit, name in (("ms", "millis"), ("us", "micros"), ("ns", "nanos"))
        for local in ("", "local-")
    },
}
"""The logical types read into their own Arrow type."""
_UNMAPPED_LOGICAL = frozenset({"decimal", "big-decimal", "duration"})
"""Logical types whose primitive alone would misread the values."""
_WRITTEN_AS: dict[pa.DataType, str] = {
    **{t: name for name, t in _PRIMITIVES.items()},
    pa.int8(): "int",
    pa.int16(): "int",
    pa.uint8(): "int",
    pa.uint16(): "int",
    pa.uint32(): "long",
    pa.large_string(): "string",
    pa.large_binary(): "bytes",
}
"""The Avro primitive each plain Arrow type is written as."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_BYTES = {"int": 5, "long": 10}  # the longest varint of each
_PAD = 32  # zero bytes after the joined datums: a read a few bytes past the end stays in bounds


@dataclass(frozen=True)
class _Field:
    """One field of the record: the Avro primitive its values are written as (``enum``: an
    int index into ``symbols``), its column's Arrow type, and the union branch that is null
    (None: not a union)."""

    name: str
    kind: str
    arrow: pa.DataType
    null_branch: int | None = None
    symbols: tuple[str, ...] = ()


class AvroCodec:
    """Rows of an Arrow schema as Avro datums (binary encoding, no header) and back.

    ``schema``: an Avro record schema (dict or JSON text) or an Arrow schema. :attr:`arrow`
    is the columns a decode gives, :attr:`avro` the Avro schema datums are written in, and
    :attr:`given` the schema the codec was made from (an Avro one as a dict).

    >>> codec = AvroCodec('{"type": "record", "name": "Trade", "fields": ['
    ...     '{"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},'
    ...     '{"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}}]}')
    >>> codec.arrow
    ts: timestamp[ms, tz=UTC] not null
    side: string not null
    >>> AvroCodec(pa.schema([("tags", pa.list_(pa.string()))]))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: column 'tags' has the Arrow type list<item: string>, which has no Avro type here: cast it to a number, string, binary, boolean, date, time or timestamp (ms, us, ns) column, or drop it
    """

    def __init__(self, schema: pa.Schema | Mapping[str, Any] | str) -> None:
        if isinstance(schema, pa.Schema):
            self.arrow, self.avro = schema, _avro_schema_of(schema)
            self.given: pa.Schema | dict[str, Any] = schema
            fields = [_field_of_arrow(f) for f in schema]
        else:
            self.avro = self.given = _checked(schema)
            fields = _fields_of_avro(cast(dict[str, Any], fastavro.parse_schema(self.avro)))
            self.arrow = pa.schema(
                [
                    pa.field(
                        f.name, f.arrow, nullable=f.null_branch is not None or f.kind == "null"
                    )
                    for f in fields
                ]
            )
        self._fields = fields

    def decode(
        self, values: Sequence[bytes], confluent: bool = False
    ) -> tuple[pa.RecordBatch, list[tuple[int, str]]]:
        """The datums ``values`` as a batch of :attr:`arrow`, and (index, reason) for each
        that did not decode. ``confluent``: each value starts with Confluent's header
        (magic byte 0 and a schema id, not checked against any registry).

        >>> codec = AvroCodec(pa.schema([("x", pa.int8())]))
        >>> codec.decode([b"\\x02\\x02", b"\\x02\\x80\\x04", b"\\x04\\x02"])
        (pyarrow.RecordBatch
        x: int8
        ----
        x: [1], [(1, "field 'x' holds 256, out of the range of int8"), (2, "field 'x' has union branch 2; its union has 0 (null) and 1 (value)")])
        """
        datums = _Datums(values)
        if confluent:
            short = datums.ends - datums.pos < CONFLUENT_HEADER
            datums.fail(
                short | (datums.buf[datums.pos] != 0),
                "the record has no Confluent header (magic byte 0, then a 4-byte schema id)",
            )
            datums.pos += CONFLUENT_HEADER
            datums.check_read("header")
        columns = [_read_field(datums, field) for field in self._fields]
        datums.check_all_read()
        batch = pa.RecordBatch.from_arrays(columns, schema=self.arrow)
        if not datums.alive.all():
            batch = batch.filter(pa.array(datums.alive))
        return batch, sorted(datums.reasons.items())

    def encode(self, batch: pa.RecordBatch, schema_id: int | None = None) -> list[bytes]:
        """Each row of ``batch`` (of :attr:`arrow`'s columns) as one datum; with ``schema_id``,
        each starts with Confluent's header naming that id.

        >>> codec = AvroCodec(pa.schema([("x", pa.int64())]))
        >>> codec.encode(pa.record_batch({"x": [1, None]}), schema_id=7)
        [b'\\x00\\x00\\x00\\x00\\x07\\x02\\x02', b'\\x00\\x00\\x00\\x00\\x07\\x00']
        """
        n = batch.num_rows
        pieces = []
        if schema_id is not None:
            header = np.frombuffer(b"\0" + schema_id.to_bytes(4, "big"), np.uint8)
            pieces.append((np.full(n, CONFLUENT_HEADER), np.tile(header, n)))
        for field in self._fields:
            pieces += _pieces_of(batch.column(field.name), field)
        return _joined(pieces, n)


def is_avro_schema(schema: object) -> bool:
    """Whether ``schema`` is an Avro record schema (JSON text, or a dict of type ``record``)
    rather than Arrow columns.

    >>> is_avro_schema({"type": "record", "name": "R", "fields": []}), is_avro_schema({"x": "int64"})
    (True, False)
    """
    return isinstance(schema, str) or (
        isinstance(schema, Mapping) and schema.get("type") == "record"
    )


def _checked(schema: Mapping[str, Any] | str) -> dict[str, Any]:
    """An Avro schema given as a dict or JSON text, checked by fastavro."""
    try:
        avro = json.loads(schema) if isinstance(schema, str) else dict(schema)
    except ValueError as exc:
        raise SchemaError(f"an Avro schema given as text must be JSON: {exc}") from None
    if not isinstance(avro, dict) or avro.get("type") != "record":
        raise SchemaError(
            "an Avro schema of Kafka records must be a record, one field per column (for Arrow "
            f"columns, pass a pyarrow schema), not {json.dumps(avro)}"
        )
    try:
        fastavro.parse_schema(avro)
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"not a valid Avro schema ({type(exc).__name__}: {exc})") from None
    return avro


def _fields_of_avro(record: dict[str, Any]) -> list[_Field]:
    """The fields of an Avro record schema (as ``fastavro.parse_schema`` gives it), with
    their Arrow types."""
    named = record["__named_schemas"]
    fields = []
    for spec in record["fields"]:
        name, avro = spec["name"], spec["type"]
        if isinstance(avro, list):
            nulls = [i for i, branch in enumerate(avro) if _type_name(branch) == "null"]
            if len(avro) != 2 or len(nulls) != 1:
                raise _unmapped(name, avro, "sabot-lab reads unions of null and one other type")
            field = _field_of_avro(name, avro[1 - nulls[0]], named)
            fields.append(_Field(name, field.kind, field.arrow, nulls[0], field.symbols))
        else:
            fields.append(_field_of_avro(name, avro, named))
    return fields


def _field_of_avro(name: str, avro: Any, named: dict[str, dict[str, Any]]) -> _Field:
    """A field of one (not union) Avro type; ``named``: the named types by full name."""
    if isinstance(avro, str):
        avro = named.get(avro, {"type": avro})
    if not isinstance(avro, dict):
        raise _unmapped(name, avro, "sabot-lab reads unions of null and one other type")
    kind, logical = avro["type"], avro.get("logicalType")
    if kind == "enum":
        return _Field(name, "enum", pa.string(), symbols=tuple(avro["symbols"]))
    if (kind, str(logical)) in _LOGICAL:
        return _Field(name, kind, _LOGICAL[kind, str(logical)])
    if kind in _PRIMITIVES and logical not in _UNMAPPED_LOGICAL:
        return _Field(name, kind, _PRIMITIVES[kind])
    raise _unmapped(
        name,
        avro,
        "it reads null, boolean, int, long, float, double, string, bytes, enum, date, "
        "time-millis/micros, timestamp-millis/micros/nanos and their unions with null",
    )


def _unmapped(name: str, avro: Any, why: str) -> SchemaError:
    return SchemaError(
        f"field {name!r} has the Avro type {json.dumps(avro)}, which sabot-lab cannot read "
        f"into an Arrow column ({why}): read the topic with format='raw' and decode the "
        "value column in map_batches"
    )


def _type_name(avro: Any) -> Any:
    return avro.get("type") if isinstance(avro, dict) else avro


def _avro_type_of(column: pa.Field) -> tuple[str, str | None]:
    """The Avro primitive and logical type (None: none) ``column`` is written as."""
    t = column.type
    if pa.types.is_timestamp(t) and t.unit in ("ms", "us", "ns"):
        unit = {"ms": "millis", "us": "micros", "ns": "nanos"}[t.unit]
        return "long", f"{'' if t.tz else 'local-'}timestamp-{unit}"
    if t in _WRITTEN_AS:
        return _WRITTEN_AS[t], None
    for (kind, name), mapped in _LOGICAL.items():
        if mapped == t:
            return kind, name
    raise SchemaError(
        f"column {column.name!r} has the Arrow type {t}, which has no Avro type here: cast it "
        "to a number, string, binary, boolean, date, time or timestamp (ms, us, ns) column, "
        "or drop it"
    )


def _field_of_arrow(column: pa.Field) -> _Field:
    """The Avro field a column is written as."""
    if not _NAME.match(column.name):
        raise SchemaError(
            f"column {column.name!r} is not a valid Avro field name (letters, digits and _, "
            "not starting with a digit): rename it before writing Avro"
        )
    kind = _avro_type_of(column)[0]
    nullable = column.nullable and kind != "null"
    return _Field(column.name, kind, column.type, 0 if nullable else None)


def _avro_schema_of(schema: pa.Schema) -> dict[str, Any]:
    """The Avro record schema rows of ``schema`` are written in.

    >>> _avro_schema_of(pa.schema([pa.field("id", pa.int64(), nullable=False),
    ...                            ("t", pa.timestamp("ms"))]))["fields"]
    [{'name': 'id', 'type': 'long'}, {'name': 't', 'type': ['null', {'type': 'long', 'logicalType': 'local-timestamp-millis'}], 'default': None}]
    """
    fields = []
    for column in schema:
        field = _field_of_arrow(column)
        kind, logical = _avro_type_of(column)
        avro: Any = kind if logical is None else {"type": kind, "logicalType": logical}
        if field.null_branch is None:
            fields.append({"name": field.name, "type": avro})
        else:
            fields.append({"name": field.name, "type": ["null", avro], "default": None})
    return {"type": "record", "name": "Row", "namespace": "sabot_lab", "fields": fields}


_Piece = tuple[np.ndarray, np.ndarray]
"""Bytes to write for every row: their lengths (one per row) and the bytes, row after row."""


def _pieces_of(column: pa.Array, field: _Field) -> list[_Piece]:
    """The bytes of ``field`` in each row's datum: the union branch, then the value."""
    n = len(column)
    present = column.is_valid().to_numpy(zero_copy_only=False)
    pieces = []
    if field.null_branch is not None:
        branch = np.where(present, 1 - field.null_branch, field.null_branch)
        pieces.append(_varints(branch, np.ones(n, bool)))
    elif column.null_count and field.kind != "null":
        raise SchemaError(
            f"column {field.name!r} holds nulls, but its Avro type {field.kind!r} is not a "
            "union with null: fill the nulls, or write with a schema where it is nullable"
        )
    if field.kind in ("string", "bytes"):
        blobs = pc.fill_null(column.cast(pa.large_binary()), b"")
        offsets = np.frombuffer(blobs.buffers()[1], np.int64)[blobs.offset : blobs.offset + n + 1]
        data = blobs.buffers()[2]
        lengths = np.diff(offsets)
        chars = np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]] if data else lengths[:0]
        return [*pieces, _varints(lengths, present), (lengths, chars.astype(np.uint8))]
    if field.kind == "enum":
        indices = pc.index_in(column, value_set=pa.array(field.symbols, column.type))
        unknown = pc.sum(pc.and_(indices.is_null(), column.is_valid())).as_py() or 0
        if unknown:
            raise SchemaError(
                f"column {field.name!r} holds {unknown} values that are not symbols of its "
                f"Avro enum {list(field.symbols)}"
            )
        column = indices
    elif pa.types.is_temporal(field.arrow):
        column = column.cast(_PRIMITIVES[field.kind])
    if field.kind == "null":
        return pieces
    values = pc.fill_null(column, pa.scalar(0).cast(column.type)).to_numpy(zero_copy_only=False)
    if field.kind in ("float", "double"):
        width = 4 if field.kind == "float" else 8
        octets = values.astype(f"<f{width}").view(np.uint8).reshape(n, width)
        return [*pieces, (width * present, octets[present].reshape(-1))]
    if field.kind == "boolean":
        return [*pieces, (present.astype(np.int64), values.astype(np.uint8)[present])]
    return [*pieces, _varints(values.astype(np.int64), present)]


def _varints(values: np.ndarray, present: np.ndarray) -> _Piece:
    """``values`` as zigzag varints, for the ``present`` rows (no bytes for others).

    >>> _varints(np.array([0, -1, 1, 64, -300]), np.ones(5, bool))[1].tobytes()
    b'\\x00\\x01\\x02\\x80\\x01\\xd7\\x04'
    """
    zigzag = ((values << 1) ^ (values >> 63)).view(np.uint64)
    width = max(1, (int(zigzag.max(initial=0)).bit_length() + 6) // 7)  # bytes of the largest
    groups = zigzag[:, None] >> (np.uint64(7) * np.arange(width, dtype=np.uint64))
    sizes = np.maximum(1, (groups != 0).sum(axis=1))
    more = np.arange(width) < sizes[:, None] - 1
    octets = (groups & np.uint64(0x7F)).astype(np.uint8) | (more.astype(np.uint8) << 7)
    sizes = np.where(present, sizes, 0)
    return sizes, octets[np.arange(width) < sizes[:, None]]


def _joined(pieces: list[_Piece], n: int) -> list[bytes]:
    """The datum of each of ``n`` rows: its bytes of every piece, in order."""
    lengths = sum((p[0] for p in pieces), np.zeros(n, np.int64))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    out = np.empty(int(ends[-1]) if n else 0, np.uint8)
    at = starts.copy()
    for sizes, octets in pieces:
        firsts = np.cumsum(sizes) - sizes  # where each row's bytes start in ``octets``
        out[np.repeat(at - firsts, sizes) + np.arange(len(octets))] = octets
        at += sizes
    joined = out.tobytes()
    return [joined[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


class _Datums:
    """Datums joined in one buffer, read field by field: a position, an end and whether it
    still decodes for each datum, and why those that do not, failed."""

    def __init__(self, values: Sequence[bytes]) -> None:
        lengths = np.fromiter(map(len, values), np.int64, len(values))
        joined = b"".join(values)
        self.buf = np.frombuffer(joined + bytes(_PAD), np.uint8)
        self.size = len(joined)
        self.ends = np.cumsum(lengths)
        self.pos = self.ends - lengths
        self.alive = np.ones(len(values), bool)
        self.reasons: dict[int, str] = {}

    def fail(self, rows: np.ndarray, reason: str) -> None:
        """Mark ``rows`` (a mask) that still decode as failed for ``reason``."""
        failed = rows & self.alive
        for i in np.flatnonzero(failed):
            self.reasons[int(i)] = reason
        self.alive &= ~failed

    def varint(self, present: np.ndarray, kind: str, field: str) -> np.ndarray:
        """The zigzag varints (``int`` or ``long``) at the positions of the ``present``
        datums (0 for others), moving past them."""
        value = np.zeros(len(present), np.uint64)
        active, size = present.copy(), np.zeros(len(present), np.int64)
        for k in range(_MAX_BYTES[kind]):
            if not active.any():
                break
            byte = self.buf[self.pos + k]
            value |= np.where(active, byte & 0x7F, 0).astype(np.uint64) << np.uint64(7 * k)
            size += active
            active &= byte >= 0x80
        self.fail(active, f"field {field!r} has a varint longer than an Avro {kind} takes")
        self.pos += size
        decoded = (value >> np.uint64(1)).astype(np.int64) ^ -(value & np.uint64(1)).astype(
            np.int64
        )
        if kind == "int":
            self.fail(
                (decoded < -(2**31)) | (decoded >= 2**31),
                f"field {field!r} holds a value out of the range of an Avro int",
            )
        return decoded

    def fixed(self, present: np.ndarray, width: int) -> np.ndarray:
        """``width`` bytes at the position of each datum (a row of the result each), moving
        the ``present`` ones past them."""
        taken = self.buf[self.pos[:, None] + np.arange(width)]
        self.pos += width * present
        return taken

    def blobs(self, present: np.ndarray, field: str) -> pa.Array:
        """The length-prefixed bytes at the ``present`` datums' positions as a large_binary
        array (null elsewhere), moving past them."""
        lengths = self.varint(present, "long", field)
        self.fail(lengths < 0, f"field {field!r} has a negative length")
        self.fail(self.pos + lengths > self.ends, _ends_inside(field))
        keep = present & self.alive
        lengths = np.where(keep, lengths, 0)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = self.buf[np.repeat(self.pos - offsets[:-1], lengths) + np.arange(offsets[-1])]
        self.pos += lengths
        validity = pa.array(keep).buffers()[1]
        return pa.Array.from_buffers(
            pa.large_binary(), len(lengths), [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
        )

    def check_read(self, field: str) -> None:
        """Fail the datums read past their end; keep every position inside the buffer."""
        self.fail(self.pos > self.ends, _ends_inside(field))
        np.minimum(self.pos, self.size, out=self.pos)

    def check_all_read(self) -> None:
        """Fail the datums with bytes left after the last field."""
        left = self.ends - self.pos
        for count in np.unique(left[self.alive & (left > 0)]):
            self.fail(
                left == count,
                f"{count} bytes are left after the last field (written with another schema?)",
            )


def _ends_inside(field: str) -> str:
    return f"the datum ends inside field {field!r} (truncated, or written with another schema)"


def _read_field(datums: _Datums, field: _Field) -> pa.Array:
    """One field of every datum as a column of the field's Arrow type."""
    present = datums.alive.copy()
    if field.null_branch is not None:
        branch = datums.varint(present, "int", field.name)
        for wrong in np.unique(branch[datums.alive & (branch != 0) & (branch != 1)]):
            datums.fail(
                branch == wrong,
                f"field {field.name!r} has union branch {wrong}; its union has "
                f"{field.null_branch} (null) and {1 - field.null_branch} (value)",
            )
        present = datums.alive & (branch == 1 - field.null_branch)
    raw = _read_values(datums, field, present)
    datums.check_read(field.name)
    return _as_column(datums, field, raw, present & datums.alive)


def _read_values(datums: _Datums, field: _Field, present: np.ndarray) -> np.ndarray | pa.Array:
    """The values of ``field`` at the ``present`` datums, in the encoding's own type."""
    kind = field.kind
    if kind in ("int", "long", "enum"):
        return datums.varint(present, "long" if kind == "long" else "int", field.name)
    if kind in ("float", "double"):
        width = 4 if kind == "float" else 8
        taken = np.ascontiguousarray(datums.fixed(present, width))
        return taken.view("<f4" if kind == "float" else "<f8").reshape(-1)
    if kind == "boolean":
        byte = datums.fixed(present, 1).reshape(-1)
        datums.fail(present & (byte > 1), f"field {field.name!r} has a boolean byte not 0 or 1")
        return byte.astype(bool)
    if kind in ("string", "bytes"):
        return datums.blobs(present, field.name)
    return pa.nulls(len(present))  # null: no bytes


def _as_column(
    datums: _Datums, field: _Field, raw: np.ndarray | pa.Array, valid: np.ndarray
) -> pa.Array:
    """Decoded values as a column of the field's type; values that do not fit it fail their
    datum."""
    if isinstance(raw, pa.Array):
        if field.kind == "null":
            return raw.cast(field.arrow)
        return _blob_column(datums, field, raw)
    if field.kind == "enum":
        bad = valid & ((raw < 0) | (raw >= len(field.symbols)))
        datums.fail(bad, f"field {field.name!r} has an index out of its enum's symbols")
        keep = valid & datums.alive
        indices = pa.array(np.where(keep, raw, 0), mask=~keep)
        return pa.array(field.symbols, pa.string()).take(indices).cast(field.arrow)
    if pa.types.is_integer(field.arrow):
        limits = np.iinfo(field.arrow.to_pandas_dtype())
        for i in np.flatnonzero(valid & ((raw < limits.min) | (raw > limits.max))):
            datums.fail(
                np.arange(len(raw)) == i,
                f"field {field.name!r} holds {raw[i]}, out of the range of {field.arrow}",
            )
    keep = valid & datums.alive
    values = np.where(keep, raw, 0).astype(np.int32 if field.kind == "int" else raw.dtype)
    return pa.array(values, mask=~keep).cast(field.arrow)


def _blob_column(datums: _Datums, field: _Field, raw: pa.Array) -> pa.Array:
    """Bytes as the field's binary or string column; a string that is not UTF-8 fails its
    datum."""
    if pa.types.is_binary(field.arrow) or pa.types.is_large_binary(field.arrow):
        return raw.cast(field.arrow)
    try:
        return raw.cast(field.arrow)
    except pa.ArrowInvalid:
        pass  # find the strings that are not UTF-8
    bad = np.zeros(len(raw), bool)
    for i, value in enumerate(raw.to_pylist()):
        try:
            if value is not None:
                value.decode()
        except UnicodeDecodeError:
            bad[i] = True
    datums.fail(bad, f"field {field.name!r} holds a string that is not UTF-8")
    return pa.array(
        [None if b else v for v, b in zip(raw.to_pylist(), bad, strict=True)], pa.large_binary()
    ).cast(field.arrow)
