"""A bounded cache of what was computed from an object, found again by the object's
identity: a plan, a predicate or a literal is the same object for every batch of a run, so
what the engine derives from it (a literal's Arrow value, a filter's stages, an expression's
plan over distinct inputs) is made once. Each entry keeps its object, so that the object's
``id`` is not reused while the entry lives; the cache is emptied when full. Imports the
standard library only.

>>> cache = IdentityCache(limit=2)
>>> key = ["a"]
>>> cache.get(key, lambda: len(key)), cache.get(key, lambda: -1)
(1, 1)
>>> cache.get(key, lambda: -1, "other")  # a second key beside the identity
-1
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["IdentityCache"]

V = TypeVar("V")


class IdentityCache(Generic[V]):
    """Values computed from objects, by each object's identity and an optional ``key``;
    emptied when it holds ``limit`` entries.

    >>> cache: IdentityCache[str] = IdentityCache(limit=16)
    >>> cache.get(object(), lambda: "made")
    'made'
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._entries: dict[tuple[int, Hashable], tuple[object, V]] = {}

    def get(self, obj: object, compute: Callable[[], V], key: Hashable = None) -> V:
        """The value kept for ``obj`` (and ``key``), or ``compute()``'s, kept for next time."""
        found = self._entries.get((id(obj), key))
        if found is not None and found[0] is obj:
            return found[1]
        if len(self._entries) >= self._limit:
            self._entries.clear()
        value = compute()
        self._entries[(id(obj), key)] = (obj, value)
        return value
