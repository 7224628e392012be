# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Row hashing of Arrow key columns, packing of integer keys into one code, and hash
partitioning (identical in every process)."""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from sabot_lab.kernels._mix cimport combine64, mix64

import numpy as np

cdef uint64_t NULL_HASH = 0x5AB07AB5AB07AB5AULL

ctypedef fused offset_t:
    int32_t
    int64_t


def hash_int64(const int64_t[::1] values, const uint8_t[::1] valid, uint64_t[::1] out, bint first):
    """Hash 64-bit integers into ``out`` (or combine with what ``out`` holds)."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef uint64_t h
    cdef bint all_valid = valid.shape[0] == 0
    with nogil:
        for i in range(n):
            h = mix64(<uint64_t>values[i]) if (all_valid or valid[i]) else NULL_HASH
            out[i] = h if first else combine64(out[i], h)


def hash_binary(const uint8_t[::1] data, const offset_t[::1] offsets, const uint8_t[::1] valid,
                uint64_t[::1] out, bint first):
    """Hash variable-length binary/UTF-8 values (FNV-1a, then mixed)."""
    cdef Py_ssize_t i, j, n = out.shape[0]
    cdef uint64_t h
    cdef int64_t start, stop
    cdef bint all_valid = valid.shape[0] == 0
    with nogil:
        for i in range(n):
            if all_valid or valid[i]:
                start = offsets[i]
                stop = offsets[i + 1]
                h = 0xcbf29ce484222325ULL
                for j in range(start, stop):
                    h = (h ^ data[j]) * 0x100000001b3ULL
                h = mix64(h ^ <uint64_t>(stop - start))
            else:
                h = NULL_HASH
            out[i] = h if first else combine64(out[i], h)


def pack_int64(const int64_t[::1] values, int64_t low, int64_t high, uint64_t[::1] codes,
               uint8_t[::1] in_range, bint first):
    """Pack an integer key column into ``codes``: ``codes * (high - low + 1) + (value - low)``
    (just ``value - low`` if ``first``); ``in_range`` is cleared where the value is outside
    ``[low, high]``."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef uint64_t width = <uint64_t>(high - low) + 1
    cdef uint64_t code
    cdef int64_t v
    with nogil:
        for i in range(n):
            v = values[i]
            if v < low or v > high:
                in_range[i] = 0
                code = 0
            else:
                code = <uint64_t>(v - low)
            codes[i] = code if first else codes[i] * width + code


def partition_ids(const uint64_t[::1] hashes, int n_partitions):
    """Partition number of each row: ``hash % n_partitions`` as int32."""
    cdef Py_ssize_t i, n = hashes.shape[0]
    out = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] view = out
    cdef uint64_t parts = <uint64_t>n_partitions
    with nogil:
        for i in range(n):
            view[i] = <int32_t>(hashes[i] % parts)
    return out
