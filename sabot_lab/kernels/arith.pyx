# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Integer division and remainder by a constant, truncated toward zero (SQL's ``/`` on
integers and ``%``), without a hardware division per row.

A quotient is taken from a floating-point multiply by ``1 / d`` and then corrected exactly in
integers (the estimate is off by at most one for ``|x| < 2**50``); larger values divide the
slow way. ``d`` must not be 0 or -1 (callers keep the checked path for those).
"""

from libc.stdint cimport int64_t

cdef int64_t LIMIT = 1LL << 50


def divide_by_constant(const int64_t[::1] x, int64_t d, int64_t[::1] out, bint remainder):
    """``out[i] = x[i] / d`` truncated toward zero, or the remainder ``x[i] - d * (x[i] / d)``."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef double inv = 1.0 / <double>d
    cdef int64_t v, q, r, ad = d if d > 0 else -d, step = 1 if d > 0 else -1
    with nogil:
        for i in range(n):
            v = x[i]
            if -LIMIT < v < LIMIT:
                q = <int64_t>(<double>v * inv)  # the C cast truncates toward zero
                r = v - q * d
                if v >= 0:
                    if r < 0:
                        r += ad
                        q -= step
                    elif r >= ad:
                        r -= ad
                        q += step
                else:
                    if r > 0:
                        r -= ad
                        q += step
                    elif r <= -ad:
                        r += ad
                        q -= step
            else:
                q = v / d  # C99 division truncates toward zero
                r = v - q * d
            out[i] = r if remainder else q
