# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""CSV text of Arrow columns, row after row into one buffer, byte for byte as Arrow's CSV
writer gives it without a header: integers and booleans as text, timestamps as
``YYYY-MM-DD HH:MM:SS`` with the unit's fraction digits, dates as ``YYYY-MM-DD``, strings in
double quotes with each quote doubled (RFC 4180; commas, line breaks and every other byte kept
as they are), a null as an empty field, fields separated by ``,`` and rows ended by ``\\n``.

A column is described by its kind and the addresses of its Arrow buffers (the caller keeps the
arrays alive during the call); :mod:`sabot_lab.connectors.csv_rows` builds the descriptions.
Consecutive timestamps in the same second reuse that second's text, as sorted event times do.
"""

import sys

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memcpy

cdef enum:
    # the column kinds (their numbers are KINDS' order)
    INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, BOOL, DATE32, TIMESTAMP, STRING, LARGE_STRING

KINDS = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "date32",
    "timestamp", "string", "large_string",
)
"""The kinds of column the kernel writes, by number."""
WIDEST = (4, 6, 11, 20, 3, 5, 10, 20, 5, 10, 29, 2, 2)
"""The longest text of a value of each kind (for strings: the quotes; each byte of the value
takes at most two more)."""
SLACK = 8
"""Bytes past the end of the longest text that the kernel may write to (a number's eight
digits are stored at once)."""

if sys.byteorder != "little":  # put_unsigned stores a word's bytes lowest first
    raise ImportError("sabot_lab.kernels.csv_text writes numbers on little-endian machines only")

cdef int64_t FIRST_DAY = -719162  # 0001-01-01: Arrow writes other years with other widths
cdef int64_t LAST_DAY = 2932896  # 9999-12-31

cdef uint64_t QUARTER_MASK = 0x0000007F0000007F  # a number below 100 in each 32-bit lane
cdef uint64_t DIGIT_MASK = 0x000F000F000F000F  # a digit in each 16-bit lane
cdef uint64_t ZEROS = 0x3030303030303030  # '0' in each byte

cdef char DIGITS[200]
cdef int _i
for _i in range(100):
    DIGITS[2 * _i] = 48 + _i // 10
    DIGITS[2 * _i + 1] = 48 + _i % 10


cdef struct Column:
    int kind
    int64_t offset  # the array's offset, in values
    const uint8_t* valid  # the validity bitmap, NULL when no value is null
    const uint8_t* values  # the values, or the offsets of a string column
    const uint8_t* data  # a string column's bytes
    int64_t per_second  # a timestamp's units per second
    int fraction  # a timestamp's fraction digits


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a / b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef inline int64_t seconds_of(int64_t v, int fraction) noexcept nogil:
    # the second of a timestamp with ``fraction`` digits below the second (a division by a
    # constant, which the compiler turns into a multiplication)
    if fraction == 3:
        return floor_div(v, 1000)
    if fraction == 6:
        return floor_div(v, 1000000)
    if fraction == 9:
        return floor_div(v, 1000000000)
    return v


cdef inline char* put_two(char* out, int64_t v) noexcept nogil:
    out[0] = DIGITS[2 * v]
    out[1] = DIGITS[2 * v + 1]
    return out + 2


cdef inline int digits_of(uint64_t v) noexcept nogil:
    cdef int n = 1
    while v >= 10000:
        v //= 10000
        n += 4
    if v >= 1000:
        return n + 3
    if v >= 100:
        return n + 2
    return n + 1 if v >= 10 else n


cdef inline char* put_unsigned(char* out, uint64_t v) noexcept nogil:
    # below 10^8 (most integers): the eight digits made in one word without a branch on the
    # value or a table, shifted past its leading zeros and stored at once (the caller's buffer has room
    # for the widest text, 20 bytes, at ``out``); else the digits written from the last one
    # back, two at a time
    cdef uint64_t high, low, word
    cdef int n
    if v < 100000000:
        n = (1 + (v >= 10) + (v >= 100) + (v >= 1000) + (v >= 10000) + (v >= 100000)
             + (v >= 1000000) + (v >= 10000000))
        # four-digit halves in 32-bit lanes, two-digit quarters in 16-bit lanes, digits in
        # bytes: each split a multiply and shift per lane (x // 100 = x * 10486 >> 20 below
        # 10^4, x // 10 = x * 103 >> 10 below 100), the first digit in the lowest byte
        high = v / 10000
        word = high | ((v - high * 10000) << 32)
        low = ((word * 10486) >> 20) & QUARTER_MASK
        word = low | ((word - low * 100) << 16)
        low = ((word * 103) >> 10) & DIGIT_MASK
        word = (low | ((word - low * 10) << 8)) + ZEROS
        word >>= 8 * (8 - n)
        memcpy(out, &word, 8)
        return out + n
    n = digits_of(v)
    cdef char* at = out + n
    cdef uint64_t two
    while v >= 100:
        two = v % 100
        v //= 100
        at -= 2
        at[0] = DIGITS[2 * two]
        at[1] = DIGITS[2 * two + 1]
    if v >= 10:
        out[0] = DIGITS[2 * v]
        out[1] = DIGITS[2 * v + 1]
    else:
        out[0] = <char>(48 + v)
    return out + n


cdef inline char* put_signed(char* out, int64_t v) noexcept nogil:
    if v < 0:
        out[0] = 45  # '-'
        return put_unsigned(out + 1, <uint64_t>0 - <uint64_t>v)
    return put_unsigned(out, <uint64_t>v)


cdef inline char* put_date(char* out, int64_t days) noexcept nogil:
    # YYYY-MM-DD of a day number (days since 1970-01-01; H. Hinnant's civil_from_days)
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) / 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    cdef int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    cdef int64_t mp = (5 * doy + 2) / 153
    cdef int64_t day = doy - (153 * mp + 2) / 5 + 1
    cdef int64_t month = mp + 3 if mp < 10 else mp - 9
    cdef int64_t year = yoe + era * 400 + (1 if month <= 2 else 0)
    out = put_two(out, year / 100)
    out = put_two(out, year % 100)
    out[0] = 45
    out = put_two(out + 1, month)
    out[0] = 45
    return put_two(out + 1, day)


cdef inline char* put_string(char* out, const uint8_t* s, int64_t n) noexcept nogil:
    cdef const uint8_t* quote
    out[0] = 34  # '"'
    out += 1
    while n > 0:
        quote = <const uint8_t*>memchr(s, 34, n)
        if quote == NULL:
            memcpy(out, s, n)
            out += n
            break
        memcpy(out, s, quote - s + 1)
        out += quote - s + 1
        out[0] = 34  # the quote doubled
        out += 1
        n -= quote - s + 1
        s = quote + 1
    out[0] = 34
    return out + 1


cdef inline bint is_valid(const Column* c, int64_t i) noexcept nogil:
    cdef int64_t bit = c.offset + i
    return c.valid == NULL or (c.valid[bit >> 3] >> (bit & 7)) & 1


def encode_rows(
    list columns, int64_t rows, uint8_t[::1] out, int64_t[::1] ends
):
    """Write ``rows`` rows of ``columns`` as CSV text into ``out`` (large enough: see
    :data:`WIDEST` and :data:`SLACK`), each row's end offset into ``ends``; return the bytes written, or -1
    when a timestamp or date lies outside the years 1 to 9999 (Arrow writes those
    differently: the caller leaves such rows to Arrow's writer).

    Each column is ``(kind, offset, valid, values, data, per_second, fraction)``: its
    :data:`KINDS` number, its array offset, the addresses of its validity bitmap (0 when no
    value is null), of its values (a string column's offsets) and of a string column's bytes
    (else 0), and a timestamp's units per second and fraction digits (else 1 and 0).
    """
    cdef int n_columns = len(columns)
    cdef Column* cols = <Column*>PyMem_Malloc(n_columns * sizeof(Column)) if n_columns else NULL
    cdef int k
    for k in range(n_columns):
        kind, offset, valid, values, data, per_second, fraction = columns[k]
        cols[k].kind = kind
        cols[k].offset = offset
        cols[k].valid = <const uint8_t*><size_t>valid
        cols[k].values = <const uint8_t*><size_t>values
        cols[k].data = <const uint8_t*><size_t>data
        cols[k].per_second = per_second
        cols[k].fraction = fraction
    cdef char* start = <char*>&out[0]
    cdef int64_t used
    try:
        with nogil:
            used = _encode(cols, n_columns, rows, start, &ends[0] if rows else NULL)
    finally:
        PyMem_Free(cols)
    return used


cdef int64_t _encode(Column* cols, int n_columns, int64_t rows, char* start, int64_t* ends) noexcept nogil:
    cdef char* out = start
    cdef int64_t i, j, v, seconds, days, first, last, at
    cdef int64_t cached_second
    cdef char* cached_text
    cdef char second_text[19]
    cdef bint have_second = False
    cdef int k
    cdef Column* c
    for i in range(rows):
        for k in range(n_columns):
            c = &cols[k]
            if k:
                out[0] = 44  # ','
                out += 1
            if not is_valid(c, i):
                continue
            j = c.offset + i
            if c.kind == INT64:
                out = put_signed(out, (<const int64_t*>c.values)[j])
            elif c.kind == TIMESTAMP:
                v = (<const int64_t*>c.values)[j]
                seconds = seconds_of(v, c.fraction)
                if not have_second or seconds != cached_second:
                    days = floor_div(seconds, 86400)
                    if days < FIRST_DAY or days > LAST_DAY:
                        return -1
                    cached_text = put_date(second_text, days)
                    cached_text[0] = 32  # ' '
                    v = seconds - days * 86400
                    cached_text = put_two(cached_text + 1, v / 3600)
                    cached_text[0] = 58  # ':'
                    cached_text = put_two(cached_text + 1, (v / 60) % 60)
                    cached_text[0] = 58
                    put_two(cached_text + 1, v % 60)
                    cached_second, have_second = seconds, True
                memcpy(out, second_text, 19)
                out += 19
                if c.fraction:
                    out[0] = 46  # '.'
                    v = (<const int64_t*>c.values)[j] - seconds * c.per_second
                    at = c.fraction - 1  # the digits two at a time from the last
                    while at > 0:
                        put_two(out + at, v % 100)
                        v //= 100
                        at -= 2
                    if at == 0:
                        out[1] = <char>(48 + v)
                    out += 1 + c.fraction
            elif c.kind == STRING:
                first = (<const int32_t*>c.values)[j]
                last = (<const int32_t*>c.values)[j + 1]
                out = put_string(out, c.data + first, last - first)
            elif c.kind == LARGE_STRING:
                first = (<const int64_t*>c.values)[j]
                last = (<const int64_t*>c.values)[j + 1]
                out = put_string(out, c.data + first, last - first)
            elif c.kind == INT32:
                out = put_signed(out, (<const int32_t*>c.values)[j])
            elif c.kind == INT16:
                out = put_signed(out, (<const int16_t*>c.values)[j])
            elif c.kind == INT8:
                out = put_signed(out, (<const int8_t*>c.values)[j])
            elif c.kind == UINT64:
                out = put_unsigned(out, (<const uint64_t*>c.values)[j])
            elif c.kind == UINT32:
                out = put_unsigned(out, (<const uint32_t*>c.values)[j])
            elif c.kind == UINT16:
                out = put_unsigned(out, (<const uint16_t*>c.values)[j])
            elif c.kind == UINT8:
                out = put_unsigned(out, c.values[j])
            elif c.kind == DATE32:
                days = (<const int32_t*>c.values)[j]
                if days < FIRST_DAY or days > LAST_DAY:
                    return -1
                out = put_date(out, days)
            elif c.kind == BOOL:
                if (c.values[j >> 3] >> (j & 7)) & 1:
                    memcpy(out, b"true", 4)
                    out += 4
                else:
                    memcpy(out, b"false", 5)
                    out += 5
        out[0] = 10  # '\n'
        out += 1
        ends[i] = out - start
    return out - start
