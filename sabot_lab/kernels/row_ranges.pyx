# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The rows whose value lies in an inclusive integer range, as a selection vector (row
numbers, ascending), in one branch-free pass: over every row (:func:`rows_in_range`), or over
the rows an earlier range kept (:func:`keep_in_range`, in place). Values may be strided (the
low words of decimal128 values read in place) and of any integer width up to 64 bits.

>>> import numpy as np
>>> rows = np.empty(5, np.int64)
>>> n = rows_in_range(np.array([3, 9, 4, 1, 5], np.int32), 3, 5, rows); rows[:n].tolist()
[0, 2, 4]
>>> keep_in_range(np.array([30, 90, 40, 10, 50]), 40, 99, rows, n), rows[:2].tolist()
(2, [2, 4])
"""

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t

ctypedef fused integer:
    int8_t
    int16_t
    int32_t
    int64_t
    uint8_t
    uint16_t
    uint32_t


def rows_in_range(const integer[:] values, int64_t low, int64_t high, int64_t[::1] rows):
    """Write the numbers of the rows whose value lies in ``low..high`` to the start of
    ``rows`` (at least as long as ``values``); how many there are."""
    cdef Py_ssize_t i, n = values.shape[0], kept = 0
    cdef int64_t value
    if rows.shape[0] < n:
        raise ValueError(f"rows holds {rows.shape[0]} numbers, fewer than the {n} values")
    with nogil:
        for i in range(n):
            value = <int64_t>values[i]
            rows[kept] = i
            kept += (value >= low) & (value <= high)
    return kept


def keep_in_range(
    const integer[:] values, int64_t low, int64_t high, int64_t[::1] rows, Py_ssize_t count
):
    """Keep, at the start of ``rows``, those of its first ``count`` row numbers whose value
    lies in ``low..high``, in order; how many there are."""
    cdef Py_ssize_t j, row, kept = 0, n = values.shape[0]
    cdef int64_t value
    if count > rows.shape[0]:
        raise ValueError(f"count {count} exceeds the {rows.shape[0]} row numbers held")
    for j in range(count):
        if rows[j] < 0 or rows[j] >= n:
            raise ValueError(f"row {rows[j]} is not among the {n} values")
    with nogil:
        for j in range(count):
            row = rows[j]
            value = <int64_t>values[row]
            rows[kept] = row
            kept += (value >= low) & (value <= high)
    return kept
