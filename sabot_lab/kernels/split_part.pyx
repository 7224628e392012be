# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""One part of each string split at a delimiter, in one pass over the strings' bytes (no list
of parts is built): SQL's ``split_part`` (1-based, negative from the end, '' where there is
no such part) and Flink's ``SPLIT_INDEX`` (null there, and for an empty string). Delimiters
are found left to right without overlapping, as Arrow's ``split_pattern`` and DuckDB's
``string_split`` find them.

>>> import pyarrow as pa
>>> split_part(pa.array(["a/b/c", "", None, "x"]), "/", 2).to_pylist()
['b', '', None, '']
>>> split_part(pa.array(["a/b/c", "", None, "x"]), "/", 2, flink=True).to_pylist()
['b', None, None, None]
"""

from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memchr, memcmp, memcpy

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ctypedef fused offset_t:
    int32_t
    int64_t


cdef inline int64_t find(const uint8_t* s, int64_t n, const uint8_t* by, int64_t width) noexcept nogil:
    # the position of the first ``by`` in ``s[:n]``, or -1
    cdef const uint8_t* at
    cdef int64_t start = 0
    while n - start >= width:
        at = <const uint8_t*>memchr(s + start, by[0], n - start - width + 1)
        if at == NULL:
            return -1
        if width == 1 or memcmp(at + 1, by + 1, width - 1) == 0:
            return at - s
        start = at - s + 1
    return -1


cdef int64_t _split(
    const uint8_t[::1] data, const offset_t[::1] offsets, const uint8_t[::1] valid,
    const uint8_t* by, int64_t width, int64_t n, bint flink,
    offset_t[::1] out_offsets, uint8_t[::1] out_data, uint8_t[::1] out_valid,
) noexcept nogil:
    # every row's part into the outputs; the number of null rows
    cdef Py_ssize_t i, rows = out_valid.shape[0]
    cdef bint all_valid = valid.shape[0] == 0
    cdef int64_t used = 0, nulls = 0, length, first, stop, found, k, parts, wanted
    cdef const uint8_t* s
    out_offsets[0] = 0
    for i in range(rows):
        out_valid[i] = 0
        if all_valid or valid[i]:
            s = &data[0] + offsets[i] if data.shape[0] else NULL
            length = offsets[i + 1] - offsets[i]
            wanted = n
            if n < 0:  # counted from the end: count the parts first
                parts, first = 1, 0
                while True:
                    found = find(s + first, length - first, by, width)
                    if found < 0:
                        break
                    parts += 1
                    first += found + width
                wanted = parts + n + 1
            first, stop = 0, -1
            if wanted >= 1 and not (flink and length == 0):
                k = 1
                while True:
                    found = find(s + first, length - first, by, width)
                    if k == wanted:
                        stop = length if found < 0 else first + found
                        break
                    if found < 0:
                        break
                    first += found + width
                    k += 1
            if stop >= 0:
                if stop > first:
                    memcpy(&out_data[0] + used, s + first, stop - first)
                    used += stop - first
                out_valid[i] = 1
            elif not flink:
                out_valid[i] = 1
        if not out_valid[i]:
            nulls += 1
        out_offsets[i + 1] = <offset_t>used
    return nulls


def split_part(array, str by, int64_t n, bint flink=False):
    """Part ``n`` of each string of ``array`` (a string or large_string array, or scalar) split at
    ``by`` (not empty): 1 the first, -1 the last; '' where there is no such part, or null
    there and for an empty string when ``flink`` (``SPLIT_INDEX(s, by, n - 1)``). Nulls stay
    null. See the module's example."""
    if isinstance(array, pa.Scalar):
        return split_part(pa.array([array.as_py()], array.type), by, n, flink)[0]
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array(
            [split_part(chunk, by, n, flink) for chunk in array.chunks], type=array.type
        )
    large = pa.types.is_large_string(array.type)
    width = np.int64 if large else np.int32
    rows, offset = len(array), array.offset
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], width)[offset : offset + rows + 1] if rows else np.zeros(1, width)
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    valid = (
        pc.is_valid(array).to_numpy(zero_copy_only=False).view(np.uint8)
        if array.null_count
        else np.empty(0, np.uint8)
    )
    encoded_by = by.encode()
    out_offsets = np.empty(rows + 1, width)
    out_data = np.empty(max(int(offsets[rows] - offsets[0]), 1), np.uint8)
    out_valid = np.empty(rows, np.uint8)
    cdef const uint8_t* by_bytes = encoded_by
    cdef int64_t nulls
    if large:
        nulls = _split[int64_t](data, offsets, valid, by_bytes, len(encoded_by), n, flink,
                                out_offsets, out_data, out_valid)
    else:
        nulls = _split[int32_t](data, offsets, valid, by_bytes, len(encoded_by), n, flink,
                                out_offsets, out_data, out_valid)
    bitmap = pa.py_buffer(np.packbits(out_valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(
        array.type,
        rows,
        [bitmap, pa.py_buffer(out_offsets), pa.py_buffer(out_data[: out_offsets[rows]])],
        null_count=nulls,
    )
