"""A batch's rows as CSV text without a header line, byte for byte as Arrow's CSV writer
writes them (strings quoted, quotes doubled, nulls as empty fields, ``,`` and ``\\n``), any
range of rows at a time: one kernel pass (:mod:`sabot_lab.kernels.csv_text`) writes every row
of a batch of integers, booleans, dates, timestamps without a zone and strings into one
buffer, and a range of rows is a view of it; other batches are written by Arrow's writer, a
range at a time.

May import: :mod:`sabot_lab.kernels`.

>>> import pyarrow as pa
>>> text = CsvRows(pa.record_batch({"n": [1, None, 3], "s": ['a"b', "c,d", None]}))
>>> bytes(text.rows(0, 3))
b'1,"a""b"\\n,"c,d"\\n3,\\n'
>>> bytes(text.rows(1, 2))
b',"c,d"\\n'
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv

from sabot_lab.kernels.csv_text import KINDS, SLACK, WIDEST, encode_rows

__all__ = ["CsvRows", "TextRoom"]

_KIND = {name: number for number, name in enumerate(KINDS)}
_PER_SECOND = {"s": (1, 0), "ms": (1_000, 3), "us": (1_000_000, 6), "ns": (1_000_000_000, 9)}
_WRITE_OPTIONS = csv.WriteOptions(include_header=False)


def _kind(dtype: pa.DataType) -> str | None:
    """The kernel's kind of a column of type ``dtype``, None when the kernel does not write it."""
    if pa.types.is_integer(dtype):
        return str(dtype)
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_date32(dtype):
        return "date32"
    if pa.types.is_timestamp(dtype) and dtype.tz is None:
        return "timestamp"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return str(dtype)
    return None


def _address(buffer: pa.Buffer | None) -> int:
    return 0 if buffer is None else buffer.address


class TextRoom:
    """Memory kept for the text of one batch after another: each :class:`CsvRows` made with
    it writes into the same pages (fresh ones from the system, zeroed as they are first
    touched, cost more than writing the text), so a batch's text holds until the next
    batch's is made with the same room.

    >>> room = TextRoom()
    >>> bytes(CsvRows(pa.record_batch({"n": [1, 2]}), room).rows(0, 2))
    b'1\\n2\\n'
    >>> bytes(CsvRows(pa.record_batch({"n": [3]}), room).rows(0, 1))  # the same memory
    b'3\\n'
    """

    def __init__(self) -> None:
        self._text = np.empty(0, np.uint8)
        self._ends = np.empty(0, np.int64)

    def arrays(self, size: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Room for ``size`` bytes of text and ``rows`` row ends (grown when smaller).

        >>> [len(a) for a in TextRoom().arrays(10, 2)]
        [10, 2]
        """
        if len(self._text) < size:
            self._text = np.empty(size + size // 4, np.uint8)
        if len(self._ends) < rows:
            self._ends = np.empty(rows + rows // 4, np.int64)
        return self._text[:size], self._ends[:rows]


def _encoded(batch: pa.RecordBatch, room: TextRoom | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The text of every row of ``batch`` and each row's end in it (in ``room`` when given),
    or None when the kernel does not write one of its columns or values."""
    kinds = [_kind(column.type) for column in batch.columns]
    if not kinds or None in kinds:
        return None
    size, described = batch.num_rows * len(kinds) + SLACK, []
    for column, kind in zip(batch.columns, kinds, strict=True):
        number = _KIND[str(kind)]
        size += batch.num_rows * WIDEST[number]
        buffers = column.buffers()
        if kind in ("string", "large_string"):
            offsets = np.frombuffer(buffers[1], np.int32 if kind == "string" else np.int64)
            size += 2 * int(offsets[column.offset + len(column)] - offsets[column.offset])
        per_second, fraction = _PER_SECOND[column.type.unit] if kind == "timestamp" else (1, 0)
        valid = buffers[0] if column.null_count else None
        described.append(
            (
                number,
                column.offset,
                _address(valid),
                _address(buffers[1]),
                _address(buffers[2] if len(buffers) > 2 else None),
                per_second,
                fraction,
            )
        )
    if room is None:
        out = np.frombuffer(pa.allocate_buffer(size), np.uint8)
        ends = np.frombuffer(pa.allocate_buffer(8 * batch.num_rows), np.int64)
    else:
        out, ends = room.arrays(size, batch.num_rows)
    used = encode_rows(described, batch.num_rows, out, ends)
    return None if used < 0 else (out[:used], ends)


class CsvRows:
    """The rows of ``batch`` as CSV text (see the module): :meth:`rows` gives a range of them.
    The text is written into ``room`` when given (it holds until the room's next use)."""

    def __init__(self, batch: pa.RecordBatch, room: TextRoom | None = None) -> None:
        self.batch = batch
        self._encoded = _encoded(batch, room) if batch.num_rows else None

    @property
    def encoded(self) -> bool:
        """Whether the kernel wrote the text (else Arrow's writer writes each range asked for).

        >>> CsvRows(pa.record_batch({"n": [1]})).encoded, CsvRows(pa.record_batch({"f": [1.0]})).encoded
        (True, False)
        """
        return self._encoded is not None

    def rows(self, start: int, stop: int) -> memoryview | pa.Buffer:
        """The text of rows ``start`` to ``stop`` (excluded), each ended by a line break.

        >>> bytes(CsvRows(pa.record_batch({"f": [0.5, 1.0]})).rows(1, 2))  # Arrow's writer
        b'1\\n'
        """
        if self._encoded is None:
            sink = pa.BufferOutputStream()
            csv.write_csv(self.batch.slice(start, stop - start), sink, write_options=_WRITE_OPTIONS)
            return sink.getvalue()
        text, ends = self._encoded
        first = int(ends[start - 1]) if start else 0
        return text[first : int(ends[stop - 1]) if stop > start else first].data
