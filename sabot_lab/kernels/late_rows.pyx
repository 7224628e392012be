# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""How many rows of a batch are late for a bounded out-of-orderness watermark, and the largest
time seen, in one pass without an array the size of the batch: rows that come in time order
(most do) are counted on time without the running maxima and the comparison arrays numpy
would make.

>>> import numpy as np
>>> count_late(np.array([10, 3, 7, 12], np.int64), 0, 4)  # 3 < 10 - 4 <= 7
(1, 12)
"""

from libc.stdint cimport int64_t


def count_late(const int64_t[::1] times, int64_t highest, int64_t delay):
    """``(late, largest)``: the number of ``times`` below the running maximum (starting from
    ``highest`` and including the time itself) less ``delay``, and that maximum after the
    last time."""
    cdef Py_ssize_t i
    cdef int64_t t, late = 0
    with nogil:
        for i in range(times.shape[0]):
            t = times[i]
            if t > highest:
                highest = t
            elif t < highest - delay:
                late += 1
    return late, highest
