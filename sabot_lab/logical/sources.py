"""The interface every source connector implements, and the registry that rebuilds them.

The plan model stores a :class:`SourceSpec` in each SOURCE node. Connectors in
``sabot_lab.connectors`` subclass it and register themselves, so ``JobGraph.from_dict`` can
rebuild any source without the plan layer importing connector code; one of them also
registers how to make a source of no rows (:func:`empty_source`, which the optimizer puts in
place of a filter no row can pass).

>>> from sabot_lab.logical.sources import source_kinds
>>> import sabot_lab
>>> "arrow" in source_kinds()
True
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pyarrow as pa

from sabot_lab.errors import PlanError

if TYPE_CHECKING:
    from sabot_lab.expr import Expr

__all__ = [
    "ReplayableSource",
    "SourceSpec",
    "SplitMark",
    "empty_source",
    "register_empty_source",
    "register_source",
    "source_from_dict",
    "source_kinds",
]

_REGISTRY: dict[str, type[SourceSpec]] = {}
_EMPTY: list[Callable[[pa.Schema], SourceSpec]] = []

S = TypeVar("S", bound="type[SourceSpec]")


@dataclass(frozen=True)
class SplitMark:
    """Among the items a source replays: the batches that follow, up to the next mark, come
    from split ``split`` (a Kafka partition), whose event times advance on their own, so a
    watermark right after the source follows each split (the slowest one); ``idle``: the
    split has nothing to read for now (caught up, or at its end) and holds nothing back."""

    split: str
    idle: bool = False


class SourceSpec(abc.ABC):
    """A description of where a stream's rows come from, able to scan them as Arrow batches."""

    kind: ClassVar[str]

    @property
    @abc.abstractmethod
    def schema(self) -> pa.Schema:
        """Schema of the rows the source produces."""

    @abc.abstractmethod
    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Yield the source's rows as batches of at most ``batch_size`` rows, in order.

        ``columns`` (a subset of the schema's names, in schema order) limits what is read;
        ``predicate`` (only ever one that :meth:`accepts_filter` accepted) keeps only the rows
        where it is true.
        """

    def accepts_filter(self, predicate: Expr) -> bool:
        """True if :meth:`scan` can apply ``predicate`` itself, exactly (SQL ``WHERE``
        semantics), e.g. to skip Parquet row groups by their statistics."""
        return False

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for plan printing, e.g. ``parquet quotes.parquet``."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters that :meth:`from_dict` turns back into an equal source."""

    @classmethod
    @abc.abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceSpec:
        """Rebuild a source from :meth:`to_dict` output."""

    def split(self, n: int) -> list[SourceSpec]:
        """At most ``n`` disjoint sources holding this one's rows between them, for ``n``
        parallel tasks; ``[self]`` if the source cannot be split."""
        return [self]

    @property
    def bounded(self) -> bool:
        """False for a source that may never end (a live feed, an endless generator)."""
        return True

    @property
    def event_time(self) -> dict[str, Any] | None:
        """Event-time settings when the source yields watermarks among its batches (the
        input of a stage, fed by a ``with_watermark`` in another), else None."""
        return None

    @property
    def ordered_by(self) -> str | None:
        """A column whose values never decrease from one row to the next as the source (or
        each of its splits) yields its rows, and are never null, whatever filter and columns
        it is given; None when there is none. A watermark on that column finds no row late,
        so filters may move below it (:mod:`sabot_lab.optimizer.filters`)."""
        return None

    def estimated_rows(self) -> int | None:
        """Row count, exact or estimated, if known cheaply (file metadata, a database's
        planner), else None."""
        return None

    def integer_ranges(self) -> dict[str, tuple[int, int]]:
        """(min, max) of integer columns, where known cheaply (file metadata); the optimizer
        bounds their distinct values with them."""
        return {}

    def fingerprint(self) -> Hashable | None:
        """A value equal for any two sources that hold the same rows, e.g. the files' paths,
        sizes and modification times, so what is learnt about one (statistics) serves the
        other; ``None`` when there is no cheap way to tell."""
        return None


class ReplayableSource(SourceSpec):
    """A source that can be read again from a position (for checkpoints): it implements
    :meth:`replay`, and its scan is the replay from the start."""

    keeps_dictionaries: bool = False
    """True if :meth:`replay` takes ``encoded``: text columns it may yield
    dictionary-encoded, for an aggregate that groups by them."""

    def prunes_only(self, predicate: Expr) -> bool:
        """True if :meth:`replay` takes ``filter_rows`` and with ``predicate`` gains by it:
        when False, the predicate only prunes what it reads (files, row groups), and the
        rows come unfiltered with the predicate's columns after the others, for a step that
        marks the rows kept. By default False."""
        return False

    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[pa.RecordBatch]:
        for batch, _ in self.replay(batch_size, columns, predicate):
            if isinstance(batch, pa.RecordBatch):
                yield batch

    @abc.abstractmethod
    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
    ) -> Iterator[tuple[pa.RecordBatch | SplitMark | None, Any]]:
        """For checkpoints: the batches from ``position`` (None: the start), each with the
        position just after it (JSON-safe), so a read from that position gives the batches
        that follow; a None batch says nothing came yet (a live source reports its position
        while idle); :class:`SplitMark` items say which split the next batches come from."""

    def commit(self, position: Any) -> None:
        """Tell the system read from that everything before ``position`` is processed: a
        checkpoint holding ``position`` is complete (Kafka: the consumer group's offsets).
        By default, nothing."""


def register_source(cls: S) -> S:
    """Class decorator: make a source kind known to :func:`source_from_dict`."""
    _REGISTRY[cls.kind] = cls
    return cls


def source_kinds() -> list[str]:
    """Names of the registered source kinds."""
    return sorted(_REGISTRY)


def source_from_dict(data: dict[str, Any]) -> SourceSpec:
    """Rebuild a source from ``{"kind": ..., **params}``."""
    kind = data.get("kind")
    if kind not in _REGISTRY:
        raise PlanError(f"unknown source kind {kind!r}; known kinds: {', '.join(source_kinds())}")
    return _REGISTRY[kind].from_dict(data)


def register_empty_source(factory: Callable[[pa.Schema], SourceSpec]) -> None:
    """Make ``factory(schema)`` the source of no rows :func:`empty_source` returns."""
    _EMPTY[:] = [factory]


def empty_source(schema: pa.Schema) -> SourceSpec:
    """A source of no rows with this schema (from the connector registered for it).

    >>> import pyarrow as pa, sabot_lab
    >>> empty_source(pa.schema([("x", pa.int64())])).describe()
    'arrow table (0 rows, 1 columns)'
    """
    if not _EMPTY:
        raise PlanError("no connector registered a source of no rows (import sabot_lab)")
    return _EMPTY[0](schema)
