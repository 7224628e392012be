"""How each file format is parsed: the options of CSV and NDJSON reads, turned into the
``pyarrow.dataset`` file format that reads them and the schema the source shows.

The types are settled once, from the first file, and fixed for every file of the source, so
all files (and every process reading a split of them) read the same columns. A column with
no value in that sample is a string column (as in DuckDB and Polars), not a ``null`` one.

The types inferred from a file are kept while it is unchanged
(:mod:`~sabot_lab.connectors.settled_files`).

May import: ``logical.codec`` (schemas as JSON), ``expr`` (type names), ``errors``,
``connectors.settled_files``.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(path, "w").write("zip;city\\n01234;Paris\\n")
>>> read = CsvOptions(separator=";", schema=pa.schema([("zip", pa.string())])).resolve(path)
>>> read.schema
zip: string
city: string
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sabot_lab.connectors.settled_files import KeptReads
from sabot_lab.errors import SourceError
from sabot_lab.expr import parse_dtype
from sabot_lab.logical.codec import schema_from_b64, schema_to_b64

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = [
    "CSV_INFER_BLOCK",
    "CSV_READS_KEPT",
    "CSV_READ_BLOCK",
    "CsvOptions",
    "FileRead",
    "JsonOptions",
    "parse_schema",
]

_DATE_KINDS = (pa.types.is_date, pa.types.is_timestamp, pa.types.is_time)

CSV_READS_KEPT = 1024
"""CSV files whose inferred reads are kept (the least recently used go first)."""

CSV_INFER_BLOCK = 1 << 24
"""Bytes at the start of a CSV file whose values settle the column types (read once a file)."""

CSV_READ_BLOCK = 1 << 22
"""Bytes of a CSV file parsed as one block when reading it. Smaller than
:data:`CSV_INFER_BLOCK`: in a process that also allocates other sizes (a notebook's), the
memory pool serves 16 MB blocks with fresh pages from the system, which the kernel zeroes
first: up to three times the CPU of the same read in 4 MB blocks, whose memory is reused."""


def parse_schema(schema: pa.Schema | Mapping[str, Any] | None) -> pa.Schema | None:
    """A schema from a ``pa.Schema`` or a dict of column name to type (a pyarrow type or a
    name such as ``"string"``).

    >>> parse_schema({"zip": "string", "n": pa.int32()})
    zip: string
    n: int32
    """
    if schema is None or isinstance(schema, pa.Schema):
        return schema
    return pa.schema([(name, parse_dtype(dtype)) for name, dtype in schema.items()])


@dataclass(frozen=True)
class FileRead:
    """What a read of a format's files needs: the dataset file format (reading the columns
    in the types of ``read_schema``), the schema the source shows, and the casts from the
    first to the second (columns parsed with a date format are read as timestamps)."""

    format: ds.FileFormat
    read_schema: pa.Schema
    schema: pa.Schema

    def conform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` (columns read in :attr:`read_schema`'s types) in the shown types."""
        casts = {
            f.name: f.type
            for f in self.schema
            if f.name in batch.schema.names and self.read_schema.field(f.name).type != f.type
        }
        if not casts:
            return batch
        columns = [
            column.cast(casts[name]) if name in casts else column
            for name, column in zip(batch.schema.names, batch.columns, strict=True)
        ]
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)

    def with_dictionaries(self, columns: Sequence[str]) -> FileRead:
        """This read with the text ``columns`` of a CSV file parsed straight into dictionary
        arrays (int32 codes, one dictionary a block, built by the reader's threads), for an
        aggregate that groups by them; the read itself when it has none (or reads NDJSON).

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> _ = open(path, "w").write("k,n\\na,1\\n")
        >>> CsvOptions().resolve(path).with_dictionaries(["k", "n"]).schema.types
        [DictionaryType(dictionary<values=string, indices=int32, ordered=0>), DataType(int64)]
        """
        import pyarrow.dataset as ds

        encoded = {
            name
            for name in columns
            if name in self.read_schema.names
            and pa.types.is_string(self.read_schema.field(name).type)
            and pa.types.is_string(self.schema.field(name).type)
        }
        if not encoded or not isinstance(self.format, ds.CsvFileFormat):
            return self

        def dictionaries(schema: pa.Schema) -> pa.Schema:
            return pa.schema(
                [
                    f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in encoded else f
                    for f in schema
                ]
            )

        read_schema = dictionaries(self.read_schema)
        scan = self.format.default_fragment_scan_options
        convert = copy.copy(scan.convert_options)
        convert.column_types = dict(zip(read_schema.names, read_schema.types, strict=True))
        file_format = ds.CsvFileFormat(
            read_options=scan.read_options,
            parse_options=self.format.parse_options,
            convert_options=convert,
        )
        return FileRead(file_format, read_schema, dictionaries(self.schema))


def _overrides(schema: pa.Schema | None, names: list[str], where: str) -> dict[str, pa.DataType]:
    if schema is None:
        return {}
    unknown = [name for name in schema.names if name not in names]
    if unknown:
        raise SourceError(
            f"schema names columns {unknown} that {where} does not have; its columns are {names}"
        )
    return {f.name: f.type for f in schema}


def _string_if_null(kind: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_null(kind) else kind


@dataclass(frozen=True)
class CsvOptions:
    """The options of a CSV read, named as Polars' ``scan_csv`` names them (see
    :func:`sabot_lab.from_csv`)."""

    separator: str = ","
    has_header: bool = True
    schema: pa.Schema | None = None
    null_values: tuple[str, ...] = ("",)
    quote_char: str | None = '"'
    skip_rows: int = 0
    try_parse_dates: bool = True
    date_format: str | None = None
    datetime_format: str | None = None
    encoding: str = "utf8"

    def __post_init__(self) -> None:
        if len(self.separator) != 1:
            raise SourceError(f"separator must be one character, got {self.separator!r}")
        if self.quote_char is not None and len(self.quote_char) != 1:
            raise SourceError(
                f"quote_char must be one character (or None for no quoting), got "
                f"{self.quote_char!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = None if self.schema is None else schema_to_b64(self.schema)
        data["null_values"] = list(self.null_values)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CsvOptions:
        schema = data.get("schema")
        return cls(
            **{
                **data,
                "schema": None if schema is None else schema_from_b64(schema),
                "null_values": tuple(data["null_values"]),
            }
        )

    def _options(self, timestamp_parsers: Sequence[Any]) -> tuple[Any, Any, Any]:
        """pyarrow's read, parse and convert options (names and types still inferred)."""
        import pyarrow.csv as csv

        return (
            csv.ReadOptions(
                skip_rows=self.skip_rows,
                encoding=self.encoding,
                autogenerate_column_names=not self.has_header,
                block_size=CSV_INFER_BLOCK,
            ),
            csv.ParseOptions(
                delimiter=self.separator,
                quote_char=self.quote_char or False,
                newlines_in_values=self.quote_char is not None,
            ),
            csv.ConvertOptions(
                null_values=list(self.null_values),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                timestamp_parsers=list(timestamp_parsers),
            ),
        )

    def _infer(self, path: str, parsers: Sequence[Any]) -> pa.Schema:
        """The columns of ``path``'s first block, as pyarrow infers them (that block only
        read)."""
        import pyarrow.csv as csv

        read_options, parse_options, convert_options = self._options(parsers)
        # one thread reads the first block alone; a threaded reader reads blocks ahead
        # (several times the first block's CPU, for rows the inference never looks at)
        read_options.use_threads = False
        try:
            with csv.open_csv(path, read_options, parse_options, convert_options) as reader:
                return reader.schema
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError, LookupError) as exc:
            raise SourceError(f"cannot read the CSV file {path!r}: {exc}") from exc

    def resolve(self, path: str) -> FileRead:
        """How to read this source's files, the types inferred from ``path`` (its first):
        inferred once per process while the file is unchanged (the next query over it, each
        split of its source, reuse them).

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> _ = open(path, "w").write("k,n\\na,1\\n")
        >>> os.utime(path, (0, 0))  # written long ago
        >>> CsvOptions().resolve(path) is CsvOptions().resolve(path)
        True
        """
        return _resolved.get(path, self, lambda stat: self._resolve(path))

    def _resolve(self, path: str) -> FileRead:
        import pyarrow.csv as csv
        import pyarrow.dataset as ds

        parsers = [f for f in (self.date_format, self.datetime_format) if f is not None]
        if self.try_parse_dates:
            parsers.append(csv.ISO8601)
        inferred = self._infer(path, parsers)
        names = inferred.names
        if not self.has_header:
            given = self.schema.names if self.schema is not None else []
            generated = [f"column_{i + 1}" for i in range(len(inferred))]
            names = given if len(given) == len(inferred) else generated
        dates: set[str] = set()
        if self.date_format is not None:
            only_dates = self._infer(path, [self.date_format])
            dates = {
                n for n, t in zip(names, only_dates.types, strict=True) if pa.types.is_timestamp(t)
            }
        overrides = _overrides(self.schema, names, f"the CSV file {path!r}")
        read, shown = [], []
        for name, kind in zip(names, inferred.types, strict=True):
            kind = _string_if_null(kind)
            if not self.try_parse_dates and name not in dates and any(t(kind) for t in _DATE_KINDS):
                kind = pa.string()
            if name in dates:
                kind = pa.date32()
            elif pa.types.is_timestamp(kind):
                kind = pa.timestamp("us", kind.tz)  # as Polars and DuckDB
            kind = overrides.get(name, kind)
            parsed_as_date = name in dates and pa.types.is_date(kind)
            read.append((name, pa.timestamp("s") if parsed_as_date else kind))
            shown.append((name, kind))
        read_schema = pa.schema(read)
        # Names and types are given, so every file reads alike; the header line is skipped
        # with the rows before it (pyarrow's dataset reader ignores ``skip_rows`` otherwise).
        read_options, parse_options, convert_options = self._options(parsers)
        read_options.column_names = names
        read_options.autogenerate_column_names = False
        read_options.skip_rows = self.skip_rows + int(self.has_header)
        read_options.block_size = CSV_READ_BLOCK
        convert_options.column_types = dict(zip(names, read_schema.types, strict=True))
        file_format = ds.CsvFileFormat(
            read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
        return FileRead(file_format, read_schema, pa.schema(shown))


_resolved: KeptReads[CsvOptions, FileRead] = KeptReads(CSV_READS_KEPT)


@dataclass(frozen=True)
class JsonOptions:
    """The options of a newline-delimited JSON read (see :func:`sabot_lab.from_json`)."""

    schema: pa.Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"schema": None if self.schema is None else schema_to_b64(self.schema)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JsonOptions:
        schema = data.get("schema")
        return cls(None if schema is None else schema_from_b64(schema))

    @staticmethod
    def _format(schema: pa.Schema | None, behaviour: str) -> ds.JsonFileFormat:
        import pyarrow.dataset as ds
        import pyarrow.json as pj

        return ds.JsonFileFormat(
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior=behaviour
            )
        )

    def resolve(self, path: str) -> FileRead:
        """How to read this source's files, the types inferred from ``path`` (its first)."""
        import pyarrow.dataset as ds

        try:
            inferred = ds.dataset(path, format=self._format(self.schema, "infer")).schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"cannot read the NDJSON file {path!r}: {exc}") from exc
        overrides = _overrides(self.schema, inferred.names, f"the NDJSON file {path!r}")
        # the schema's fields first, in its order; then the others as they first appear
        order = [*overrides, *(n for n in inferred.names if n not in overrides)]
        schema = pa.schema(
            [(n, overrides.get(n) or _string_if_null(inferred.field(n).type)) for n in order]
        )
        return FileRead(self._format(schema, "ignore"), schema, schema)
