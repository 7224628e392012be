# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Where a text column's value changes from one row to the next: one pass over the Arrow
offsets and bytes, comparing each row's bytes with the previous row's (no hashing, no
boolean array to unpack), as the cut of rows that come in partition order into partitions
needs.

>>> import numpy as np
>>> offsets = np.array([0, 2, 4, 5, 6], np.int32)  # "ab", "ab", "c", "c"
>>> text_changes(offsets, np.frombuffer(b"ababcc", np.uint8)).tolist()
[2]
"""

import sys

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

ctypedef fused offset_t:
    int32_t
    int64_t


if sys.byteorder != "little":  # same_bytes keeps a word's lowest bytes as its first
    raise ImportError("sabot_lab.kernels.text_changes runs on little-endian machines only")


cdef inline bint same_bytes(
    const uint8_t* a, const uint8_t* b, int64_t n, const uint8_t* limit
) noexcept nogil:
    # the ``n`` bytes at ``b`` (before ``a``) equal those at ``a``: eight at a time, the last
    # up to eight as one word masked to them when ``limit`` (the data's end) leaves room for
    # the word (short texts: a call to memcmp would cost more than they do)
    cdef uint64_t x, y
    while n >= 8:
        memcpy(&x, a, 8)
        memcpy(&y, b, 8)
        if x != y:
            return False
        a += 8
        b += 8
        n -= 8
    if n == 0:
        return True
    if a + 8 <= limit:
        memcpy(&x, a, 8)
        memcpy(&y, b, 8)
        return ((x ^ y) & ((<uint64_t>1 << (8 * n)) - 1)) == 0
    while n > 0:
        if a[0] != b[0]:
            return False
        a += 1
        b += 1
        n -= 1
    return True


def text_changes(const offset_t[::1] offsets, const uint8_t[::1] data):
    """The rows (from 1) whose text differs from the previous row's, in order, as an int64
    array. Row ``i``'s text is ``data[offsets[i]:offsets[i + 1]]``: ``offsets`` holds one
    more entry than there are rows."""
    cdef Py_ssize_t i, found = 0, rows = offsets.shape[0] - 1
    cdef int64_t start, end, before
    cdef const uint8_t* at = &data[0] if data.shape[0] else NULL
    cdef Py_ssize_t size = data.shape[0]
    if rows < 0 or (rows and (offsets[0] < 0 or offsets[rows] > data.shape[0])):
        raise ValueError(
            f"text_changes: {offsets.shape[0]} offsets over {data.shape[0]} bytes; give one "
            "offset more than there are rows, within the column's whole data buffer"
        )
    out = np.empty(max(rows - 1, 0), np.int64)
    cdef int64_t[::1] changes = out
    with nogil:
        for i in range(1, rows):
            before = offsets[i - 1]
            start = offsets[i]
            end = offsets[i + 1]
            if end - start != start - before or not same_bytes(
                at + start, at + before, end - start, at + size
            ):
                changes[found] = i
                found += 1
    return out[:found]
