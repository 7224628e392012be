# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Whether CSV bytes read from the start of a row end outside every quoted value, as Arrow's
CSV parser reads them: a quote opens a value only at the start of a field (after the
separator, a line break or the start), a doubled quote inside a quoted value is one quote
character, and a line break inside a quoted value is part of it. A file cut into blocks at
line breaks is parsed block by block only when each block ends so
(:mod:`sabot_lab.connectors.csv_blocks`): then every cut is between two rows.

>>> ends_outside_quotes(b'a,"x\\ny"\\n1,2\\n', ord('"'), ord(','))
True
>>> ends_outside_quotes(b'a,"x\\n', ord('"'), ord(','))
False
>>> ends_outside_quotes(b'a,b"\\n1,"d""\\n"\\n', ord('"'), ord(','))  # a stray quote, an escaped one
True
"""

from libc.string cimport memchr


def ends_outside_quotes(const unsigned char[::1] text, int quote, int separator):
    """True if ``text``, read from the start of a row, ends outside every quoted value."""
    cdef Py_ssize_t n = text.shape[0], i = 0
    cdef const unsigned char *start = &text[0] if n else NULL
    cdef const unsigned char *found
    cdef unsigned char before
    cdef bint inside = False
    with nogil:
        while i < n:
            found = <const unsigned char *>memchr(start + i, quote, n - i)
            if found == NULL:
                break
            i = found - start
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
