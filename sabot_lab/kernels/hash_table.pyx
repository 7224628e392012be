# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Hash table over 64-bit key codes, for hash-join build and probe.

Two layouts: when the codes are exact integers spanning a small range (at most
``DENSE_FACTOR`` times the row count, or at most ``DENSE_SPAN`` slots), a direct-address
array indexed by ``code - min`` (a perfect hash: one load per probe, no collisions);
otherwise open addressing with linear probing on mixed codes, with a one-hash Bloom filter
of the codes (``FILTER_BITS_PER_KEY`` bits a key: a sixteenth of the table's size, so it stays
in cache where the table does not): a probe row without a match is mostly turned away by one
bit test, without a cache miss or a mispredicted branch in the table.
"""

from libc.stdint cimport int64_t, uint8_t, uint64_t

from sabot_lab.kernels._mix cimport mix64

import numpy as np

DENSE_FACTOR = 4
DENSE_SPAN = 1 << 16
FILTER_BITS_PER_KEY = 16


cdef struct Slot:
    uint64_t key
    int64_t head


cdef class JoinHashTable:
    """Maps 64-bit key codes to the build rows holding them (duplicates chained in row order)."""

    cdef object _slots_owner, _next_owner, _filter_owner
    cdef Slot* slots  # key and first row side by side: one cache line per lookup
    cdef int64_t* next_row
    cdef uint64_t mask
    cdef bint dense
    cdef int64_t low
    cdef uint64_t span
    cdef uint64_t* filter  # NULL when the table has no Bloom filter
    cdef int filter_shift  # a code's filter bit: the top bits of its mixed code
    cdef readonly Py_ssize_t num_rows
    cdef readonly Py_ssize_t num_keys
    cdef readonly bint unique

    def __init__(self, const uint64_t[::1] codes, const uint8_t[::1] valid, bint exact=False):
        cdef Py_ssize_t n = codes.shape[0]
        cdef uint64_t capacity = 16
        while capacity < <uint64_t>(2 * n):
            capacity <<= 1
        self.dense = False
        if exact and n > 0:
            self._try_dense(codes, valid)
        if self.dense:
            capacity = self.span
        self.mask = capacity - 1
        self._slots_owner = np.full(2 * capacity, -1, dtype=np.int64)
        self._next_owner = np.full(max(n, 1), -1, dtype=np.int64)
        cdef int64_t[::1] s = self._slots_owner
        cdef int64_t[::1] x = self._next_owner
        self.slots = <Slot*>&s[0]
        self.next_row = &x[0]
        self.num_rows = n
        cdef Py_ssize_t i, keys = 0, rows = 0
        cdef uint64_t slot, code
        cdef bint all_valid = valid.shape[0] == 0
        with nogil:
            for i in range(n - 1, -1, -1):  # backwards, so each chain lists rows in order
                if not (all_valid or valid[i]):
                    continue
                rows += 1
                code = codes[i]
                slot = (code - <uint64_t>self.low) if self.dense else (mix64(code) & self.mask)
                while not self.dense and self.slots[slot].head != -1 and self.slots[slot].key != code:
                    slot = (slot + 1) & self.mask
                if self.slots[slot].head == -1:
                    self.slots[slot].key = code
                    keys += 1
                self.next_row[i] = self.slots[slot].head
                self.slots[slot].head = i
        self.num_keys = keys
        self.unique = keys == rows
        self.filter = NULL
        if not self.dense:
            self._build_filter(codes, valid, keys)

    def _build_filter(self, const uint64_t[::1] codes, const uint8_t[::1] valid, Py_ssize_t keys):
        cdef Py_ssize_t i, n = codes.shape[0]
        cdef uint64_t bits = 64
        cdef int log_bits = 6
        while bits < <uint64_t>(FILTER_BITS_PER_KEY * keys):
            bits <<= 1
            log_bits += 1
        self._filter_owner = np.zeros(bits // 64, dtype=np.uint64)
        cdef uint64_t[::1] f = self._filter_owner
        self.filter = &f[0]
        self.filter_shift = 64 - log_bits
        cdef uint64_t bit
        cdef bint all_valid = valid.shape[0] == 0
        with nogil:
            for i in range(n):
                if all_valid or valid[i]:
                    bit = mix64(codes[i]) >> self.filter_shift
                    self.filter[bit >> 6] |= (<uint64_t>1) << (bit & 63)

    def _try_dense(self, const uint64_t[::1] codes, const uint8_t[::1] valid):
        cdef Py_ssize_t i, n = codes.shape[0]
        cdef int64_t lo = 0, hi = 0, v
        cdef bint seen = False
        cdef bint all_valid = valid.shape[0] == 0
        with nogil:
            for i in range(n):
                if all_valid or valid[i]:
                    v = <int64_t>codes[i]
                    if not seen or v < lo:
                        lo = v
                    if not seen or v > hi:
                        hi = v
                    seen = True
        if seen and (<uint64_t>(hi - lo) < <uint64_t>(DENSE_FACTOR * n)
                     or <uint64_t>(hi - lo) < <uint64_t>DENSE_SPAN):
            self.dense = True
            self.low = lo
            self.span = <uint64_t>(hi - lo) + 1

    @property
    def is_dense(self):
        """True if the table uses the direct-address (perfect hash) layout."""
        return self.dense

    @property
    def has_filter(self):
        """True if probes first test a Bloom filter of the build codes."""
        return self.filter != NULL

    cdef inline int64_t _head(self, uint64_t code) noexcept nogil:
        cdef uint64_t slot, mixed, bit
        cdef int64_t row
        if self.dense:
            slot = code - <uint64_t>self.low
            return self.slots[slot].head if slot < self.span else -1
        mixed = mix64(code)
        if self.filter != NULL:
            bit = mixed >> self.filter_shift
            if not (self.filter[bit >> 6] >> (bit & 63)) & 1:
                return -1
        slot = mixed & self.mask
        while True:
            row = self.slots[slot].head
            if row == -1 or self.slots[slot].key == code:
                return row
            slot = (slot + 1) & self.mask

    def probe(self, const uint64_t[::1] codes, const uint8_t[::1] valid):
        """All matching (probe row, build row) pairs, ordered by probe row then build row."""
        cdef Py_ssize_t i, n = codes.shape[0], total = 0, k = 0
        cdef int64_t row
        cdef bint all_valid = valid.shape[0] == 0
        if self.unique:  # at most one match per probe row: one pass
            probe_idx = np.empty(n, dtype=np.int64)
            build_idx = np.empty(n, dtype=np.int64)
            return self._probe_unique(codes, valid, probe_idx, build_idx)
        heads = np.empty(n, dtype=np.int64)
        cdef int64_t[::1] head = heads
        with nogil:
            for i in range(n):
                row = self._head(codes[i]) if (all_valid or valid[i]) else -1
                head[i] = row
                while row != -1:
                    total += 1
                    row = self.next_row[row]
        probe_idx = np.empty(total, dtype=np.int64)
        build_idx = np.empty(total, dtype=np.int64)
        cdef int64_t[::1] p = probe_idx
        cdef int64_t[::1] b = build_idx
        with nogil:
            for i in range(n):
                row = head[i]
                while row != -1:
                    p[k] = i
                    b[k] = row
                    k += 1
                    row = self.next_row[row]
        return probe_idx, build_idx

    def _probe_unique(self, const uint64_t[::1] codes, const uint8_t[::1] valid,
                      probe_idx, build_idx):
        cdef int64_t[::1] p = probe_idx
        cdef int64_t[::1] b = build_idx
        cdef Py_ssize_t i, k = 0, n = codes.shape[0]
        cdef int64_t row
        cdef bint all_valid = valid.shape[0] == 0
        with nogil:
            for i in range(n):
                if all_valid or valid[i]:
                    row = self._head(codes[i])
                    if row != -1:
                        p[k] = i
                        b[k] = row
                        k += 1
        return probe_idx[:k], build_idx[:k]

    def contains(self, const uint64_t[::1] codes, const uint8_t[::1] valid):
        """For each probe row, whether any build row has its code (as a bool array)."""
        cdef Py_ssize_t i, n = codes.shape[0]
        cdef bint all_valid = valid.shape[0] == 0
        out = np.zeros(n, dtype=np.bool_)
        cdef uint8_t[::1] found = out.view(np.uint8)
        with nogil:
            for i in range(n):
                if all_valid or valid[i]:
                    found[i] = self._head(codes[i]) != -1
        return out

    def mark(self, const uint64_t[::1] codes, const uint8_t[::1] valid, uint8_t[::1] matched):
        """Set ``matched[row]`` for every build row whose code some probe row has (a semi or
        anti join that builds on its left side marks the left rows a right batch matches).

        >>> import numpy as np
        >>> table = JoinHashTable(np.array([5, 7, 5], dtype=np.uint64), np.empty(0, np.uint8), True)
        >>> matched = np.zeros(3, dtype=np.uint8)
        >>> table.mark(np.array([5, 9], dtype=np.uint64), np.empty(0, np.uint8), matched)
        >>> matched.tolist()
        [1, 0, 1]
        """
        cdef Py_ssize_t i, n = codes.shape[0]
        cdef int64_t row
        cdef bint all_valid = valid.shape[0] == 0
        with nogil:
            for i in range(n):
                if not (all_valid or valid[i]):
                    continue
                row = self._head(codes[i])
                # a marked head means its whole chain is (or is being) marked already
                while row != -1 and not matched[row]:
                    matched[row] = 1
                    row = self.next_row[row]
