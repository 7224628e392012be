# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Sums and counts per group number in one pass over the rows, for aggregates whose groups
are numbered densely (``codes``: each row's group, ``0 <= code < len(out)``, 32- or 64-bit
integers: a dictionary's indices as Parquet's reader gives them; a code out of that range
raises ValueError, and the sums are not to be used). Values may be strided (the low
words of decimal128 values read in place).

Integer sums are exact and detect overflow: :func:`sum_int64_by_code` says whether a sum
left 64 bits, and then the sums are not to be used. Float sums add the rows in order, each
group's as ``np.bincount(codes, weights=values)`` does, so the two agree bit for bit.

>>> import numpy as np
>>> codes = np.array([1, 0, 1, 1])
>>> sums, counts = np.zeros(2, np.int64), np.zeros(2, np.int64)
>>> sum_int64_by_code(codes, np.array([5, 7, -2, 3]), sums), sums.tolist()
(True, [7, 6])
>>> sum_int64_by_code(np.array([0, 0]), np.array([2**62, 2**62]), np.zeros(1, np.int64))
False
>>> count_by_code(codes, counts); counts.tolist()
[1, 3]
>>> count_by_code(codes.astype(np.int32), counts); counts.tolist()
[2, 6]
>>> count_by_code(np.array([2]), counts)
Traceback (most recent call last):
ValueError: group numbers must lie in 0..1; number the groups densely before summing
"""

from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free


cdef extern from *:
    bint add_overflows "__builtin_saddll_overflow"(long long a, long long b, long long *out) nogil

# With few groups, consecutive rows mostly add to the same sum, each addition waiting for the
# previous one: up to LANE_GROUPS groups, rows go round-robin to LANES sets of sums (each
# in cache) that are added up at the end.
DEF LANES = 4
DEF LANE_GROUPS = 4096

ctypedef fused code_t:
    int32_t
    int64_t


cdef inline Py_ssize_t group_of(code_t code, Py_ssize_t size, bint *outside) noexcept nogil:
    """``code``, or 0 (and ``outside`` set) when it is not a group number below ``size``."""
    if <size_t>code < <size_t>size:
        return code
    outside[0] = True
    return 0


cdef raise_outside(Py_ssize_t size):
    raise ValueError(
        f"group numbers must lie in 0..{size - 1}; number the groups densely before summing"
    )


def sum_int64_by_code(const code_t[::1] codes, const int64_t[:] values, int64_t[::1] sums):
    """Add ``values[i]`` to ``sums[codes[i]]``; False when a sum (or a part of one, for
    few groups) overflowed 64 bits."""
    cdef Py_ssize_t i, j, g, n = codes.shape[0], size = sums.shape[0]
    cdef bint overflow = False, outside = False
    cdef long long *part
    if size > LANE_GROUPS:
        with nogil:
            for i in range(n):
                g = group_of(codes[i], size, &outside)
                overflow |= add_overflows(sums[g], values[i], <long long *>&sums[g])
    else:
        part = <long long *>calloc(LANES * size, sizeof(long long))
        if part == NULL:
            raise MemoryError(f"no memory for the sums of {size} groups")
        with nogil:
            for i in range(0, n - n % LANES, LANES):
                for j in range(LANES):
                    g = j * size + group_of(codes[i + j], size, &outside)
                    overflow |= add_overflows(part[g], values[i + j], &part[g])
            for i in range(n - n % LANES, n):
                g = group_of(codes[i], size, &outside)
                overflow |= add_overflows(part[g], values[i], &part[g])
            for g in range(size):
                for j in range(LANES):
                    overflow |= add_overflows(sums[g], part[j * size + g], <long long *>&sums[g])
        free(part)
    if outside:
        raise_outside(size)
    return not overflow


def sum_float64_by_code(const code_t[::1] codes, const double[:] values, double[::1] sums):
    """Add ``values[i]`` to ``sums[codes[i]]``, the rows in order."""
    cdef Py_ssize_t i, size = sums.shape[0]
    cdef bint outside = False
    with nogil:
        for i in range(codes.shape[0]):
            sums[group_of(codes[i], size, &outside)] += values[i]
    if outside:
        raise_outside(size)


def count_by_code(const code_t[::1] codes, int64_t[::1] counts):
    """Add 1 to ``counts[codes[i]]`` for each row."""
    cdef Py_ssize_t i, size = counts.shape[0]
    cdef bint outside = False
    with nogil:
        for i in range(codes.shape[0]):
            counts[group_of(codes[i], size, &outside)] += 1
    if outside:
        raise_outside(size)
