"""The user API's file sources: :func:`from_parquet`, :func:`from_csv` and :func:`from_json`.

Each takes one path, a directory, a glob (``"data/*.parquet"``, ``"data/**/*.csv"``) or a
list of them (see :mod:`sabot_lab.connectors.file_paths`); the keyword names follow Polars'
``scan_*`` functions. Files under ``key=value`` directories expose those keys as columns
(``hive_partitioning``), and a filter on them skips whole files.

May import: ``stream`` (to make the stream), ``connectors``, ``errors``.

>>> import os, tempfile, sabot_lab as sl
>>> root = tempfile.mkdtemp()
>>> sl.from_pydict({"k": [1, 2, 2], "v": [10, 20, 30]}).to_parquet(root + "/t", partition_by="k")
3
>>> sl.from_parquet(root + "/t").filter(sl.col("k") == 2).select("v").collect().to_pydict()
{'v': [20, 30]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import pyarrow as pa

from sabot_lab.connectors import CsvOptions, FileSource, JsonOptions
from sabot_lab.connectors.file_formats import parse_schema
from sabot_lab.connectors.file_paths import PathsLike
from sabot_lab.stream import Stream, from_source

__all__ = ["from_csv", "from_json", "from_parquet"]

SchemaArg: TypeAlias = pa.Schema | Mapping[str, Any] | None


def from_parquet(source: PathsLike, *, hive_partitioning: bool | None = None) -> Stream:
    """A stream over Parquet files: a file, a directory, a glob or a list of them, read in
    batches. ``hive_partitioning``: expose ``key=value`` directories as columns (None: when
    one directory or glob was given and its files sit in such directories).

    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os, sabot_lab as sl
    >>> d = tempfile.mkdtemp()
    >>> for i in range(2): pq.write_table(pa.table({"x": [i]}), os.path.join(d, f"{i}.parquet"))
    >>> sl.from_parquet(os.path.join(d, "*.parquet")).collect().to_pydict()
    {'x': [0, 1]}
    """
    return from_source(FileSource(source, "parquet", hive_partitioning=hive_partitioning))


def from_csv(
    source: PathsLike,
    *,
    schema: SchemaArg = None,
    separator: str = ",",
    has_header: bool = True,
    null_values: str | Sequence[str] | None = None,
    quote_char: str | None = '"',
    skip_rows: int = 0,
    try_parse_dates: bool = True,
    date_format: str | None = None,
    datetime_format: str | None = None,
    encoding: str = "utf8",
    hive_partitioning: bool | None = None,
) -> Stream:
    """A stream over CSV files (a file, a directory, a glob or a list of them).

    Types are inferred from the first file unless ``schema`` (a dict of column name to type,
    or a ``pa.Schema``) gives them, for some or all columns: ``{"zip": "string"}`` keeps
    ZIP codes' leading zeros. ``separator``: the field delimiter. ``has_header=False``: the
    first row is data, the columns are named ``column_1``, ``column_2``… (or as ``schema``
    names them, when it names them all). ``null_values``: markers (``"NA"``) that are null besides
    the empty field, which always is (a quoted ``""`` is an empty string). ``quote_char``: the
    quote around fields holding separators or line ends (None: no quoting). ``skip_rows``:
    lines skipped before the header. ``try_parse_dates``: ISO 8601 dates and times become
    date and timestamp columns (False: strings). ``date_format`` / ``datetime_format``: a
    ``strptime`` format (``"%d/%m/%Y"``) for dates / timestamps written otherwise.
    ``encoding``: the files' text encoding (a UTF-8 byte order mark is skipped).

    >>> import tempfile, os, sabot_lab as sl
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("zip;day\\n01234;31/01/2024\\nNA;\\n")
    >>> sl.from_csv(p, separator=";", schema={"zip": "string"}, null_values="NA",
    ...             date_format="%d/%m/%Y").collect().to_pydict()
    {'zip': ['01234', None], 'day': [datetime.date(2024, 1, 31), None]}
    """
    given = [null_values] if isinstance(null_values, str) else list(null_values or [])
    nulls = tuple(dict.fromkeys(["", *given]))
    options = CsvOptions(
        separator=separator,
        has_header=has_header,
        schema=parse_schema(schema),
        null_values=nulls,
        quote_char=quote_char,
        skip_rows=skip_rows,
        try_parse_dates=try_parse_dates,
        date_format=date_format,
        datetime_format=datetime_format,
        encoding=encoding,
    )
    return from_source(
        FileSource(source, "csv", options=options, hive_partitioning=hive_partitioning)
    )


def from_json(
    source: PathsLike, *, schema: SchemaArg = None, hive_partitioning: bool | None = None
) -> Stream:
    """A stream over newline-delimited JSON files (one object a line; a file, a directory, a
    glob or a list of them). Types are inferred from the first file unless ``schema`` (a
    dict of column name to type, or a ``pa.Schema``) gives them, for some or all fields.

    >>> import tempfile, os, sabot_lab as sl
    >>> p = os.path.join(tempfile.mkdtemp(), "t.ndjson")
    >>> _ = open(p, "w").write('{"id": 1, "tag": "a"}\\n{"id": 2}\\n')
    >>> sl.from_json(p, schema={"id": "int32"}).collect().to_pydict()
    {'id': [1, 2], 'tag': ['a', None]}
    """
    options = JsonOptions(parse_schema(schema))
    return from_source(
        FileSource(source, "json", options=options, hive_partitioning=hive_partitioning)
    )
