# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The largest magnitude among 64-bit integers in one pass (numpy's ``max`` and ``min`` are
two), as the proof that short-decimal arithmetic cannot overflow needs it for every column of
every batch.

>>> import numpy as np
>>> largest_magnitude(np.array([3, -7, 5], np.int64)), largest_magnitude(np.array([], np.int64))
(7, 0)
"""

from libc.stdint cimport int64_t


def largest_magnitude(const int64_t[:] values):
    """``max(|v|)`` over ``values`` (0 for none; a strided view too: a decimal128 array's low
    words), as a Python int (``2**63`` for the lowest int64)."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef int64_t lo = 0, hi = 0, v
    with nogil:
        for i in range(n):
            v = values[i]
            lo = v if v < lo else lo
            hi = v if v > hi else hi
    return max(-<object>lo, <object>hi)
