# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Whether CSV bytes read from the start of a row end outside every quoted value, as Arrow's
CSV parser reads them: a quote opens a value only at the start of a field (after the
separator, a line break or the start), a doubled quote inside a quoted value is one quote
character, and a line break inside a quoted value is part of it. A file cut into blocks at
line breaks is parsed block by block only when each block ends so
(:mod:`sabot_lab.connectors.csv_blocks`): then every cut is between two rows.

The bytes are read 64 at a time (SSE2 compares): a quote opens a value where the quotes
before it are even in number, and every quote that does so must follow the separator, a
line break, another quote or the start. When one does not (a quote inside an unquoted
field, which Arrow reads as a character), the text is read again byte by byte.

>>> ends_outside_quotes(b'a,"x\\ny"\\n1,2\\n', ord('"'), ord(','))
True
>>> ends_outside_quotes(b'a,"x\\n', ord('"'), ord(','))
False
>>> ends_outside_quotes(b'a,b"\\n1,"d""\\n"\\n', ord('"'), ord(','))  # a stray quote, an escaped one
True
>>> ends_outside_quotes(b'1,b"c\\n' * 20, ord('"'), ord(','))  # stray quotes: read byte by byte
True
"""

from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcpy, memset


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    /* Bit i set where byte i of the 64 at p equals c. */
    static inline uint64_t sabot_eq64(const unsigned char *p, unsigned char c) {
        __m128i needle = _mm_set1_epi8((char)c);
        uint64_t m = 0;
        for (int k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * k));
            m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, needle)) << (16 * k);
        }
        return m;
    }
    #else
    static inline uint64_t sabot_eq64(const unsigned char *p, unsigned char c) {
        uint64_t m = 0;
        for (int i = 0; i < 64; i++) m |= (uint64_t)(p[i] == c) << i;
        return m;
    }
    #endif
    """
    uint64_t eq64 "sabot_eq64"(const unsigned char *p, unsigned char c) noexcept nogil


cdef inline uint64_t prefix_xor(uint64_t x) noexcept nogil:
    """Bit i: the parity of the bits 0..i of ``x``."""
    x ^= x << 1
    x ^= x << 2
    x ^= x << 4
    x ^= x << 8
    x ^= x << 16
    x ^= x << 32
    return x


cdef int by_parity(const unsigned char *text, Py_ssize_t n, unsigned char quote,
                   unsigned char separator) noexcept nogil:
    """1 if ``text`` ends outside quotes, 0 inside, -1 when a quote opens a value mid-field
    (the parity says nothing then)."""
    cdef unsigned char tail[64]
    cdef const unsigned char *p
    cdef Py_ssize_t i, left
    cdef uint64_t quotes, starts, parity, inside_before, opening
    cdef uint64_t inside = 0, last_start = 1  # (all ones when inside; the start's "before")
    for i in range(0, n, 64):
        left = n - i
        p = text + i
        if left < 64:
            memset(tail, 0, 64)
            memcpy(tail, p, left)
            p = tail
        quotes = eq64(p, quote)
        starts = eq64(p, separator) | eq64(p, 10) | eq64(p, 13) | quotes
        parity = prefix_xor(quotes) ^ inside
        inside_before = parity ^ quotes
        opening = quotes & ~inside_before
        if opening & ~((starts << 1) | last_start):
            return -1
        inside = 0 - (parity >> 63)
        last_start = starts >> 63
    return inside == 0


cdef bint by_bytes(const unsigned char *text, Py_ssize_t n, int quote, int separator) noexcept nogil:
    """Whether ``text`` ends outside quotes, following Arrow's reading quote by quote."""
    cdef Py_ssize_t i = 0
    cdef const unsigned char *found
    cdef unsigned char before
    cdef bint inside = False
    while i < n:
        found = <const unsigned char *>memchr(text + i, quote, n - i)
        if found == NULL:
            break
        i = found - text
        if inside:
            if i + 1 < n and text[i + 1] == quote:
                i += 2  # a doubled quote: one quote character of the value
                continue
            inside = False  # the value's closing quote
        elif i == 0:
            inside = True
        else:
            before = text[i - 1]
            inside = before == separator or before == 10 or before == 13
        i += 1
    return not inside


def ends_outside_quotes(const unsigned char[::1] text, int quote, int separator):
    """True if ``text``, read from the start of a row, ends outside every quoted value."""
    cdef Py_ssize_t n = text.shape[0]
    cdef int found
    if n == 0:
        return True
    with nogil:
        found = -1  # (a NUL quote or separator: the padding of the last 64 bytes would match)
        if quote > 0 and separator > 0:
            found = by_parity(&text[0], n, <unsigned char>quote, <unsigned char>separator)
        if found < 0:
            found = by_bytes(&text[0], n, quote, separator)
    return found == 1
