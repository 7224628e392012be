"""numba functions between Arrow's UTF-8 bytes and numba strings, for compiled user functions
of text (:mod:`.udf_compile`): :func:`decode` makes a row's string, :func:`encode` appends a
result's bytes. Compiled once per host: numba caches them (see :func:`.udf_compile.nopython`).

Imports numba as it loads: :mod:`.udf_compile` imports it on the first compile of a function
of text, so ``import sabot_lab`` does not load it.

>>> import numpy as np
>>> data = np.frombuffer("añb".encode(), np.uint8)
>>> decode(data, 0, len(data))
'añb'
>>> out, used = encode("ñ!", np.empty(1, np.uint8), 0)
>>> bytes(out[:used]).decode()
'ñ!'
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba.cpython import unicode as nb_unicode

__all__ = ["decode", "encode"]

_KINDS = (
    nb_unicode.PY_UNICODE_1BYTE_KIND,
    nb_unicode.PY_UNICODE_2BYTE_KIND,
    nb_unicode.PY_UNICODE_4BYTE_KIND,
)
_empty_string = nb_unicode._empty_string
_set_code_point = nb_unicode._set_code_point
_get_code_point = nb_unicode._get_code_point


@numba.njit(inline="always", cache=True)
def _code_point(data: Any, i: int) -> tuple[int, int]:
    """The code point of the UTF-8 bytes at ``data[i]``, and the index after them."""
    b = data[i]
    if b < 0x80:
        return b, i + 1
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (data[i + 1] & 0x3F), i + 2
    if b < 0xF0:
        return ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F), i + 3
    cp = ((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
    return cp | (data[i + 3] & 0x3F), i + 4


@numba.njit(cache=True)
def decode(data: Any, start: int, end: int) -> Any:
    """The string of the UTF-8 bytes ``data[start:end]``."""
    count, widest, i = 0, 0, start
    while i < end:
        cp, i = _code_point(data, i)
        count += 1
        widest = max(widest, cp)
    kind = _KINDS[0] if widest < 0x100 else _KINDS[1] if widest < 0x10000 else _KINDS[2]
    text = _empty_string(kind, count, 1 if widest < 0x80 else 0)
    i, k = start, 0
    while i < end:
        cp, i = _code_point(data, i)
        _set_code_point(text, k, cp)
        k += 1
    return text


@numba.njit(cache=True)
def encode(text: Any, data: Any, used: int) -> tuple[Any, int]:
    """``text`` as UTF-8 appended to the ``used`` bytes of ``data`` (grown when full): the
    bytes and how many are used."""
    need = used + 4 * len(text)
    if need > data.shape[0]:
        grown = np.empty(max(need, 2 * data.shape[0]), np.uint8)
        grown[:used] = data[:used]
        data = grown
    for k in range(len(text)):
        cp = _get_code_point(text, k)
        if cp < 0x80:
            data[used] = cp
            used += 1
        elif cp < 0x800:
            data[used] = 0xC0 | (cp >> 6)
            data[used + 1] = 0x80 | (cp & 0x3F)
            used += 2
        elif cp < 0x10000:
            if 0xD800 <= cp < 0xE000:
                raise ValueError("a user function returned a string with a lone surrogate")
            data[used] = 0xE0 | (cp >> 12)
            data[used + 1] = 0x80 | ((cp >> 6) & 0x3F)
            data[used + 2] = 0x80 | (cp & 0x3F)
            used += 3
        else:
            data[used] = 0xF0 | (cp >> 18)
            data[used + 1] = 0x80 | ((cp >> 12) & 0x3F)
            data[used + 2] = 0x80 | ((cp >> 6) & 0x3F)
            data[used + 3] = 0x80 | (cp & 0x3F)
            used += 4
    return data, used
