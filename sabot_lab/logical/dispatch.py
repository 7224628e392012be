"""Per-phase dispatch on operator class: each phase that treats operators differently
(lowering, physical planning, optimizer rules, statistics, plan views) keeps one
:class:`PhaseTable` at module level, and a unit test checks every operator class has an
entry in every such table or is opted out of it: by name (``skip``), or, for a rule that matches a few shapes,
by the table's one ``otherwise`` entry for every other class.

>>> from sabot_lab.logical.operators import Aggregate, GroupBy, Limit, Sort
>>> describe = PhaseTable("example", {Aggregate: "aggregate", Limit: "limit"}, skip=[Sort])
>>> describe[GroupBy], describe.get(Sort(by=[], descending=[])), describe.covers(Sort)
('aggregate', None, True)
>>> "Filter" in [c.__name__ for c in describe.missing()]
True
>>> PhaseTable("rule", {Limit: "limit"}, otherwise="keep")[Sort]
'keep'

"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from sabot_lab.errors import PlanError
from sabot_lab.logical.operators import Operator, operator_classes

__all__ = ["PhaseTable"]

T = TypeVar("T")

_NOTHING: Any = object()


class PhaseTable(Generic[T]):
    """A phase's entry for each operator class (an entry for a base class, such as
    :class:`~sabot_lab.logical.operators.Window`, serves its subclasses); ``skip``: the
    classes the phase leaves alone on purpose; ``otherwise``: the entry of every class
    without one (for a rule that matches a few shapes); ``scope``: the classes the phase is
    about, when not all (e.g. per-batch operators), which alone must be covered."""

    def __init__(
        self,
        phase: str,
        entries: Mapping[type[Operator], T],
        skip: Iterable[type[Operator]] = (),
        otherwise: T = _NOTHING,
        scope: Callable[[type[Operator]], bool] | None = None,
    ) -> None:
        self.phase = phase
        self.scope = scope
        self.entries = dict(entries)
        self.skip = frozenset(skip)
        self.otherwise = otherwise

    def _find(self, cls: type[Operator]) -> T | None:
        for base in cls.__mro__:
            if base in self.entries:
                return self.entries[base]
        return None if self.otherwise is _NOTHING else self.otherwise

    def __getitem__(self, key: Operator | type[Operator]) -> T:
        cls = key if isinstance(key, type) else type(key)
        found = self._find(cls)
        if found is None:
            raise PlanError(f"{self.phase} has no entry for {cls.__name__} operators")
        return found

    def get(self, key: Operator | type[Operator], default: T | None = None) -> T | None:
        """The entry for the operator (or class), or ``default`` when it has none."""
        found = self._find(key if isinstance(key, type) else type(key))
        return default if found is None else found

    def covers(self, cls: type[Operator]) -> bool:
        """True if the class has an entry or is opted out."""
        if self.otherwise is not _NOTHING:
            return True
        return self._find(cls) is not None or any(b in self.skip for b in cls.__mro__)

    def missing(self) -> list[type[Operator]]:
        """The operator classes with neither an entry nor an opt-out."""
        in_scope = [c for c in operator_classes() if self.scope is None or self.scope(c)]
        return [c for c in in_scope if not self.covers(c)]

    def __repr__(self) -> str:
        return f"PhaseTable({self.phase!r}, {len(self.entries)} entries)"
