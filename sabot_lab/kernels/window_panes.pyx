# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Window assignment over int64 event times (a timestamp column's values in its own unit).

A tumbling window of ``size`` holds times ``[start, start + size)`` with ``start`` a multiple
of ``size`` (counted from the Unix epoch); a sliding (HOP) window of ``size`` starts every
``slide``, so each time falls in ``ceil(size / slide)`` windows or one fewer; a session is a
run of one key's times with gaps under ``gap``, made by merging pieces of sessions.

>>> import numpy as np
>>> tumble_starts(np.array([-1, 0, 9, 10], dtype=np.int64), 10).tolist()
[-10, 0, 0, 10]
>>> rows, starts = hop_assign(np.array([5, 12], dtype=np.int64), 10, 5)
>>> rows.tolist(), starts.tolist()
([0, 0, 1, 1], [0, 5, 5, 10])
>>> merge_sessions(np.array([1, 9, 2], dtype=np.int64), np.array([3, 9, 2], dtype=np.int64),
...                np.array([1, 0, 1], dtype=np.uint8), 5).tolist()
[0, 0, 1]
"""

from libc.stdint cimport int64_t, uint8_t

import numpy as np


cdef inline int64_t floor_to(int64_t t, int64_t size) noexcept nogil:
    cdef int64_t r = t % size
    if r < 0:
        r += size
    return t - r


def tumble_starts(const int64_t[::1] times, int64_t size):
    """The start of the tumbling window of ``size`` holding each time."""
    cdef Py_ssize_t i, n = times.shape[0]
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] o = out
    with nogil:
        for i in range(n):
            o[i] = floor_to(times[i], size)
    return out


def hop_assign(const int64_t[::1] times, int64_t size, int64_t slide):
    """Every (row, window start) pair of sliding windows of ``size`` every ``slide``: the rows
    (ascending) and the starts (ascending within a row)."""
    cdef Py_ssize_t i, k = 0, n = times.shape[0]
    cdef Py_ssize_t per_row = (size + slide - 1) // slide
    cdef int64_t t, start
    rows = np.empty(n * per_row, dtype=np.int64)
    starts = np.empty(n * per_row, dtype=np.int64)
    cdef int64_t[::1] r = rows
    cdef int64_t[::1] s = starts
    with nogil:
        for i in range(n):
            t = times[i]
            start = floor_to(t, slide) - (per_row - 1) * slide
            while start <= t:
                if start + size > t:
                    r[k] = i
                    s[k] = start
                    k += 1
                start += slide
    return rows[:k], starts[:k]


def merge_sessions(const int64_t[::1] first, const int64_t[::1] last,
                   const uint8_t[::1] new_key, int64_t gap):
    """Session number of each piece of a session (its first and last time), pieces sorted by
    (key, first): a piece joins the session before it when it starts less than ``gap`` after
    that session's latest time so far.

    >>> import numpy as np
    >>> merge_sessions(np.array([0, 3, 20], dtype=np.int64), np.array([5, 4, 21], dtype=np.int64),
    ...                np.array([1, 0, 0], dtype=np.uint8), 10).tolist()
    [0, 0, 1]
    """
    cdef Py_ssize_t i, n = first.shape[0]
    cdef int64_t session = -1, reach = 0
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] o = out
    with nogil:
        for i in range(n):
            if i == 0 or new_key[i] or first[i] - reach >= gap:
                session += 1
                reach = last[i]
            elif last[i] > reach:
                reach = last[i]
            o[i] = session
    return out
