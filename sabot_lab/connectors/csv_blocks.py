"""One CSV file parsed in blocks on several threads, its rows given in file order.

pyarrow's streaming CSV reader (the one a dataset scan uses) parses a file on one thread;
its table reader uses every core but holds the whole file. :func:`csv_batches` cuts the file
(memory-mapped) into blocks of about :data:`~.file_formats.CSV_READ_BLOCK` bytes, each ending
at a line break, parses up to twice as many blocks as threads at once, and gives their
batches in order. A line break inside a quoted value would put a cut inside a row: each
block is also checked to end outside every quoted value
(:func:`~sabot_lab.kernels.csv_quotes.ends_outside_quotes`), and from the first that does
not, the rest of the file is read by the streaming reader, as a whole file is. A block
that does not parse is read again from the file's start by the streaming reader, for its
error to count rows from there. A file of a few blocks, in another encoding than UTF-8, or
read with an escape character is read by the streaming reader too (:func:`splittable`).

May import ``connectors.file_formats`` and ``kernels``.

>>> import os, tempfile, pyarrow.csv as csv
>>> from sabot_lab.connectors.file_formats import CsvOptions
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(path, "w").write("k,note\\n" + 'a,"one\\ntwo"\\n' * 5 + "b,x\\n" * 5)
>>> read = CsvOptions().resolve(path)
>>> rows = [r for b in csv_batches(path, read, ["k", "note"], 4, block=8) for r in b.to_pylist()]
>>> rows == csv.read_csv(path).to_pylist()
True
"""

from __future__ import annotations

import copy
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa

from sabot_lab.connectors import file_formats
from sabot_lab.connectors.file_formats import FileRead
from sabot_lab.kernels.csv_quotes import ends_outside_quotes

__all__ = ["csv_batches", "splittable"]

_Parsed = tuple[int, bool, "pa.Table | Exception"]
"""A block's start, whether it ends outside every quoted value, its rows or their error."""

_LOOK = 1 << 16
"""Bytes looked through at a time for the line break ending a block."""


def splittable(read: FileRead, size: int, block: int | None = None) -> bool:
    """Whether a CSV file of ``size`` bytes read as ``read`` says is parsed in blocks by
    :func:`csv_batches`: at least four blocks of UTF-8 text, no escape character.

    >>> import os, tempfile
    >>> from sabot_lab.connectors.file_formats import CsvOptions
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("k\\na\\n")
    >>> read = CsvOptions().resolve(path)
    >>> splittable(read, 1 << 30), splittable(read, 100)
    (True, False)
    """
    import pyarrow.dataset as ds

    block = block or file_formats.CSV_READ_BLOCK
    if not isinstance(read.format, ds.CsvFileFormat) or size < 4 * block:
        return False
    options = read.format.default_fragment_scan_options.read_options
    encoding = options.encoding.lower().replace("-", "").replace("_", "")
    return encoding == "utf8" and read.format.parse_options.escape_char is False


def csv_batches(
    path: str | os.PathLike[str],
    read: FileRead,
    columns: Sequence[str],
    batch_size: int,
    block: int | None = None,
    threads: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The ``columns`` of the CSV file at ``path`` as ``read`` parses it, in batches of at
    most ``batch_size`` rows in file order, its blocks of ``block`` bytes (default
    :data:`~.file_formats.CSV_READ_BLOCK`) parsed on ``threads`` threads (default: the
    cores)."""
    threads = threads or os.cpu_count() or 1
    with pa.memory_map(os.fspath(path)) as mapped:
        text = mapped.read_buffer()
    skipped = read.format.default_fragment_scan_options.read_options.skip_rows
    ends = _block_ends(text, block or file_formats.CSV_READ_BLOCK, _after_lines(text, skipped))
    blocks = zip([0, *ends[:-1]], ends, strict=True)
    quote, separator = _quote(read), ord(read.format.parse_options.delimiter)
    with ThreadPoolExecutor(threads, "sabot-csv") as pool:
        parsing = (
            pool.submit(_parse, text, start, end, read, columns, quote, separator)
            for start, end in blocks
        )
        for start, ends_outside, rows in _ahead(parsing, 2 * threads):
            if not ends_outside:  # a cut inside a quoted value: the rest read as one
                yield from _streamed(text, start, read, columns, batch_size)
                return
            if isinstance(rows, Exception):
                _raise_as_read_whole(text, read, columns, rows)
            yield from rows.to_batches(max_chunksize=batch_size)


def _ahead(futures: Iterator[Future[_Parsed]], depth: int) -> Iterator[_Parsed]:
    """The results of ``futures`` in order, ``depth`` of them submitted ahead; those not
    yet started are cancelled when the consumer stops early."""
    pending: deque[Future[_Parsed]] = deque()
    try:
        for future in futures:
            pending.append(future)
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _next_line(text: pa.Buffer, position: int) -> int | None:
    """Where the line after the first line break at or past ``position`` starts; None when
    no line break follows."""
    while position < text.size:
        found = text.slice(position, min(_LOOK, text.size - position)).to_pybytes().find(b"\n")
        if found >= 0:
            return position + found + 1
        position += _LOOK
    return None


def _after_lines(text: pa.Buffer, lines: int) -> int:
    """Where the line after the first ``lines`` lines starts (the file's size if sooner)."""
    position = 0
    for _ in range(lines):
        found = _next_line(text, position)
        if found is None:
            return text.size
        position = found
    return position


def _block_ends(text: pa.Buffer, block: int, first: int = 0) -> list[int]:
    """Where each block ends: just after the first line break ``block`` bytes or more past the
    previous end, the first block holding the bytes before ``first`` (the header and the rows
    skipped: one block parses them); the file's end for the last.

    >>> _block_ends(pa.py_buffer(b"ab\\ncd\\nef\\ngh"), 2), _block_ends(pa.py_buffer(b"ab\\ncd\\n"), 1, 6)
    ([3, 6, 9, 11], [6])
    """
    ends = []
    position = _next_line(text, max(block, first - 1))
    while position is not None and position < text.size:
        ends.append(position)
        position = _next_line(text, position + block)
    return [*ends, text.size]


def _quote(read: FileRead) -> int:
    quote = read.format.parse_options.quote_char
    return -1 if quote is False else ord(quote)


def _options(read: FileRead, columns: Sequence[str], first: bool) -> tuple[Any, Any, Any]:
    """The read, parse and convert options of a block (the file's first, or another)."""
    scan = read.format.default_fragment_scan_options
    options = copy.copy(scan.read_options)
    options.use_threads = False
    if not first:
        options.skip_rows = 0  # (the header and the rows skipped are in the first block)
    convert = copy.copy(scan.convert_options)
    convert.include_columns = list(columns)
    return options, read.format.parse_options, convert


def _parse(
    text: pa.Buffer,
    start: int,
    end: int,
    read: FileRead,
    columns: Sequence[str],
    quote: int,
    separator: int,
) -> _Parsed:
    """Block ``start..end`` of ``text``: whether it ends outside every quoted value (read
    from a row's start), and its rows (or the error parsing them)."""
    import pyarrow.csv as csv

    piece = text.slice(start, end - start)
    outside = (
        end == text.size
        or quote < 0
        or ends_outside_quotes(np.frombuffer(piece, np.uint8), quote, separator)
    )
    options, parse, convert = _options(read, columns, first=start == 0)
    options.block_size = max(options.block_size, end - start + 1)
    try:
        return start, outside, csv.read_csv(pa.BufferReader(piece), options, parse, convert)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        return start, outside, exc


def _raise_as_read_whole(
    text: pa.Buffer, read: FileRead, columns: Sequence[str], error: Exception
) -> NoReturn:
    """Raise the error the streaming reader meets reading the file from its start (its rows
    counted from there, as a block's are not); ``error`` if it meets none."""
    for _ in _streamed(text, 0, read, columns, 1 << 30):
        pass
    raise error


def _streamed(
    text: pa.Buffer, start: int, read: FileRead, columns: Sequence[str], batch_size: int
) -> Iterator[pa.RecordBatch]:
    """The rows from byte ``start`` (a row's start) to the end, by the streaming reader."""
    import pyarrow.csv as csv

    options, parse, convert = _options(read, columns, first=start == 0)
    with csv.open_csv(pa.BufferReader(text.slice(start)), options, parse, convert) as reader:
        for batch in reader:
            yield from pa.Table.from_batches([batch]).to_batches(max_chunksize=batch_size)
