"""Python iterables as a source: rows (dicts or tuples), record batches or tables.

A list (or any re-iterable) or a zero-argument function returning an iterator can be scanned
any number of times. A one-shot iterator (a generator object) can be scanned once; scanning
it again raises :class:`~sabot_lab.errors.SourceError` explaining how to make it re-runnable.

For checkpoints, a source's position is ``{"items": n, "rows": r}``: the first ``n`` items
were sent, and the first ``r`` rows of item ``n`` (a table longer than a batch). A replay from
it skips them: a list or a function's iterator by reading past them, a generator function
(:class:`~sabot_lab.connectors.generator.Generated`) by calling it from ``n`` on. A one-shot
iterator cannot be read again, so it cannot be restored.

>>> source = IterableSource([{"x": 1}, {"x": 2}, {"x": 3}])
>>> [(b["x"].to_pylist(), p) for b, p in source.replay(2)]
[([1, 2], {'items': 2, 'rows': 0}), ([3], {'items': 3, 'rows': 0})]
>>> [b["x"].to_pylist() for b, _ in source.replay(2, position={"items": 2, "rows": 0})]
[[3]]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from sabot_lab.connectors.generator import Generated
from sabot_lab.errors import PlanError, SourceError
from sabot_lab.expr import Expr
from sabot_lab.logical.codec import decode, encode
from sabot_lab.logical.sources import ReplayableSource, register_source

__all__ = ["IterableSource"]

Items = Iterable[Any] | Callable[[], Iterable[Any]]


@register_source
class IterableSource(ReplayableSource):
    """Rows from Python objects, grouped into Arrow batches."""

    kind = "iterable"

    def __init__(self, items: Items, schema: pa.Schema | None = None) -> None:
        self._factory: Callable[[], Iterable[Any]] | None = None
        self._items: Iterable[Any] | None = None
        self._one_shot: Iterator[Any] | None = None
        if callable(items) and not isinstance(items, Iterable):
            self._factory = items
        elif iter(items) is items:
            self._one_shot = items
        else:
            self._items = items
        self._consumed = False
        self._schema = schema if schema is not None else self._infer_schema()

    def _infer_schema(self) -> pa.Schema:
        iterator = self._iterate()
        head = list(itertools.islice(iterator, 1))
        if head and isinstance(head[0], dict):  # rows: infer from the first 1024
            head += itertools.islice(iterator, 1023)
        if self._one_shot is not None:  # keep what was peeked for the first scan
            self._one_shot = itertools.chain(head, iterator)
            self._consumed = False
        if not head:
            raise SourceError("cannot infer the schema of an empty iterable; pass schema=")
        first = head[0]
        if isinstance(first, pa.RecordBatch | pa.Table):
            return first.schema
        if isinstance(first, dict):
            return pa.Table.from_pylist([h for h in head if isinstance(h, dict)]).schema
        raise SourceError(
            f"from_iterable cannot infer a schema from {type(first).__name__} items; "
            "yield dicts, record batches or tables, or pass schema="
        )

    def _iterate(self, start: int = 0) -> Iterator[Any]:
        """The items from number ``start`` on."""
        if isinstance(self._factory, Generated):
            return self._factory(start)  # fn(0 .. start-1) are not called again
        if self._factory is not None or self._items is not None:
            items = iter(self._factory() if self._factory is not None else self._items or ())
            return itertools.islice(items, start, None) if start else items
        if self._consumed or self._one_shot is None:
            raise SourceError(
                "this stream's source is a one-shot iterator that was already consumed; "
                "pass a list or a function returning a new iterator to from_iterable"
            )
        self._consumed = True
        return self._one_shot

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    @property
    def bounded(self) -> bool:
        return not getattr(self._factory, "unbounded", False)

    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
    ) -> Iterator[tuple[pa.RecordBatch | None, Any]]:
        """The batches after ``position`` (None: from the first item), each with the
        position after it (see the module docstring); a one-shot iterator only from the
        start."""
        first, skip = 0, 0
        if position is not None:
            if self._one_shot is not None:
                raise SourceError(
                    f"this stream's source is a one-shot iterator, which cannot be read again "
                    f"from its checkpointed position {position}; pass a list or a function "
                    "returning a new iterator to from_iterable"
                )
            first, skip = int(position["items"]), int(position["rows"])
        for batch, after in self._batches(batch_size, first, skip):
            yield (batch if batch is None or columns is None else batch.select(columns)), after

    def _batches(
        self, batch_size: int, first: int, skip: int
    ) -> Iterator[tuple[pa.RecordBatch | None, dict[str, int]]]:
        """Batches from item ``first`` on (less its first ``skip`` rows), with positions."""
        rows: list[Any] = []
        index = first  # the number of the next item
        for item in self._iterate(first):
            if not isinstance(item, pa.RecordBatch | pa.Table):
                rows.append(item)
                index += 1
                if len(rows) >= batch_size:
                    yield self._rows_to_batch(rows), _position(index)
                    rows = []
                continue
            if rows:
                yield self._rows_to_batch(rows), _position(index)
                rows = []
            table = self._conform(item)
            sent = skip if index == first else 0
            pieces = table.slice(sent).to_batches(max_chunksize=batch_size)
            batches = [b for b in pieces if b.num_rows]
            if not batches:  # nothing (left) in it: say so, so a barrier may follow
                yield None, _position(index + 1)
            for batch in batches:
                sent += batch.num_rows
                done = sent >= table.num_rows
                yield batch, _position(index + 1) if done else _position(index, sent)
            index += 1
        if rows:
            yield self._rows_to_batch(rows), _position(index)

    def _conform(self, data: pa.RecordBatch | pa.Table) -> pa.Table:
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        if table.schema.names != self._schema.names:
            raise SourceError(
                f"iterable item has columns {table.schema.names}, expected {self._schema.names}"
            )
        return table.cast(self._schema)

    def _rows_to_batch(self, rows: list[Any]) -> pa.RecordBatch:
        try:
            if isinstance(rows[0], dict):
                return pa.RecordBatch.from_pylist(rows, schema=self._schema)
            columns = list(zip(*rows, strict=True))
            return pa.RecordBatch.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, self._schema, strict=True)],
                schema=self._schema,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as exc:
            raise SourceError(f"iterable rows do not fit schema {self._schema}: {exc}") from exc

    def materialized(self) -> pa.Table | None:
        """Its rows as one table, when it reads a list (or another collection); None for a
        function or a one-shot iterator, which may give other rows at each read.

        >>> IterableSource([{"x": 1}, {"x": 2}]).materialized().num_rows
        2
        >>> IterableSource(lambda: iter([{"x": 1}])).materialized() is None
        True
        """
        if self._items is None:
            return None
        batches = [b for b, _ in self.replay(1 << 16) if b is not None]
        return pa.Table.from_batches(batches, self._schema)

    def describe(self) -> str:
        how = (
            "function" if self._factory else "one-shot iterator" if self._one_shot else "collection"
        )
        return f"iterable ({how})"

    def to_dict(self) -> dict[str, Any]:
        if self._one_shot is not None:
            raise PlanError(
                "a one-shot iterator source cannot be serialized; "
                "pass a list or a function returning a new iterator to from_iterable"
            )
        items = self._factory if self._factory is not None else list(self._items or [])
        return {"kind": self.kind, "items": encode(_Wrapped(items)), "schema": encode(self._schema)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IterableSource:
        wrapped = decode(data["items"])
        return cls(wrapped.items, schema=decode(data["schema"]))


def _position(items: int, rows: int = 0) -> dict[str, int]:
    """A position: ``items`` items sent, and ``rows`` rows of the next one."""
    return {"items": items, "rows": rows}


class _Wrapped:
    """Carrier so a list of rows is pickled whole (``encode`` pickles callables).

    Arrow batches and tables in the list travel as Arrow IPC, which writes only their own
    rows (pickling a slice would copy the whole buffer it views).
    """

    def __init__(self, items: Any) -> None:
        self.items = items

    def __call__(self) -> Any:
        return self.items

    def __reduce__(self) -> tuple[Any, ...]:
        if not isinstance(self.items, list):
            return (_Wrapped, (self.items,))
        return (_from_parts, ([_to_part(item) for item in self.items],))


def _to_part(item: Any) -> tuple[str, Any]:
    if isinstance(item, pa.RecordBatch | pa.Table):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, item.schema) as writer:
            writer.write(item)
        return ("batch" if isinstance(item, pa.RecordBatch) else "table", sink.getvalue())
    return ("value", item)


def _from_parts(parts: list[tuple[str, Any]]) -> _Wrapped:
    items = []
    for kind, value in parts:
        if kind == "value":
            items.append(value)
            continue
        reader = pa.ipc.open_stream(value)
        items.append(reader.read_all() if kind == "table" else reader.read_next_batch())
    return _Wrapped(items)
