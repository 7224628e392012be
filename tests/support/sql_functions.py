"""Python functions that SQL scripts bind with ``CREATE FUNCTION name AS 'module.function'``
in the tests, each with a plain-Python reference."""

from __future__ import annotations

import pyarrow as pa

import sabot_lab as sl


def count_char_reference(text: str | None, char: str | None) -> int | None:
    """How many times ``char`` occurs in ``text`` (Nexmark q14's ``count_char``)."""
    if text is None or char is None:
        return None
    return text.count(char)


count_char = sl.udf(count_char_reference, return_dtype=pa.int64(), compile=False)
"""``count_char`` as SQL calls it."""


def undecorated(x: int) -> int:
    """A plain Python function, not made with ``@sl.udf``."""
    return x
