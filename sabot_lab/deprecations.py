"""Keyword arguments given a new name: the old spelling keeps working for now, with a
``DeprecationWarning`` naming the new one.

May import: the standard library.

>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     renamed("nexmark", "rate", 500.0, "event_rate", 1e6)
500.0
>>> str(caught[0].message)
'nexmark(rate=...) is deprecated: use nexmark(event_rate=...)'
"""

from __future__ import annotations

import warnings
from typing import TypeVar

__all__ = ["renamed"]

T = TypeVar("T")


def renamed(function: str, old: str, old_value: T | None, new: str, new_value: T) -> T:
    """The value of the keyword ``new`` of ``function``, or, when the caller gave the old
    keyword ``old`` (not None), that value, with a ``DeprecationWarning`` naming ``new``
    (attributed to the caller of ``function``).

    >>> renamed("from_generator", "rate", None, "max_rows_per_second", 10.0)
    10.0
    """
    if old_value is None:
        return new_value
    warnings.warn(
        f"{function}({old}=...) is deprecated: use {function}({new}=...)",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value
