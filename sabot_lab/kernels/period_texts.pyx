# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Each timestamp's text copied from a table holding one fixed-width text per period (a
minute, an hour, a day): the text of a ``DATE_FORMAT`` whose pattern writes nothing finer than
the period is that of the period the timestamp falls in. Consecutive timestamps of the same
period reuse it without a division, as event times that mostly increase do, and their texts
are copied as one: the first, then the texts so far doubled.

>>> import numpy as np
>>> table = np.frombuffer(b"00:0000:01", np.uint8)  # minutes 0 and 1 of the day, 5 bytes each
>>> out = np.empty(15, np.uint8)
>>> put_period_texts(np.array([59_999, 60_000, -1]), 60_000, 0, 2, table, 5, out)
>>> out.tobytes()
b'00:0000:0100:01'
"""

from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a / b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


def put_period_texts(
    const int64_t[::1] stamps,
    int64_t per_period,
    int64_t first,
    int64_t wrap,
    const uint8_t[::1] table,
    int64_t width,
    uint8_t[::1] out,
):
    """Write into ``out`` (``width`` bytes a row) the text of each of ``stamps``: the
    ``table`` entry (``width`` bytes each) of its period number ``stamp // per_period``, taken
    modulo ``wrap`` when ``wrap`` is not 0 (periods of the day), less ``first`` (the table's
    first period). The caller makes sure every period has its entry."""
    cdef Py_ssize_t i = 0, j, done, more, rows = stamps.shape[0]
    cdef int64_t v, period, low = 1, high = 0  # the current period's stamps: [low, high)
    cdef const uint8_t* text = NULL
    cdef const uint8_t* entries = &table[0] if table.shape[0] else NULL
    cdef uint8_t* at = &out[0] if out.shape[0] else NULL
    if rows and (entries == NULL or out.shape[0] < rows * width):
        raise ValueError(
            f"put_period_texts: {rows} rows of {width} bytes do not fit the output of "
            f"{out.shape[0]} bytes, or the table is empty; give a larger output and a table"
        )
    with nogil:
        while i < rows:
            v = stamps[i]
            if v < low or v >= high:
                period = floor_div(v, per_period)
                low = period * per_period
                high = low + per_period
                if wrap:
                    period = period % wrap
                    if period < 0:
                        period += wrap
                text = entries + (period - first) * width
            j = i + 1  # the run of rows in this period: its text once, then doubled
            while j < rows and low <= stamps[j] < high:
                j += 1
            memcpy(at, text, width)
            done = 1
            while done < j - i:
                more = done if done < j - i - done else j - i - done
                memcpy(at + done * width, at, more * width)
                done += more
            at += (j - i) * width
            i = j
