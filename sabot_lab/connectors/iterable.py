"""Python iterables as a source: rows (dicts or tuples), record batches or tables.

A list (or any re-iterable) or a zero-argument function returning an iterator can be scanned
any number of times. A one-shot iterator (a generator object) can be scanned once; scanning
it again raises :class:`~sabot_lab.errors.SourceError` explaining how to make it re-runnable.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from sabot_lab.errors import PlanError, SourceError
from sabot_lab.expr import Expr
from sabot_lab.plan.codec import decode, encode
from sabot_lab.plan.sources import SourceSpec, register_source

__all__ = ["IterableSource"]

Items = Iterable[Any] | Callable[[], Iterable[Any]]


@register_source
class IterableSource(SourceSpec):
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

    def _iterate(self) -> Iterator[Any]:
        if self._factory is not None:
            return iter(self._factory())
        if self._items is not None:
            return iter(self._items)
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

    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[pa.RecordBatch]:
        for batch in self._scan_all(batch_size):
            yield batch if columns is None else batch.select(columns)

    def _scan_all(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        rows: list[Any] = []
        for item in self._iterate():
            if isinstance(item, pa.RecordBatch | pa.Table):
                if rows:
                    yield self._rows_to_batch(rows)
                    rows = []
                yield from self._conform(item).to_batches(max_chunksize=batch_size)
                continue
            rows.append(item)
            if len(rows) >= batch_size:
                yield self._rows_to_batch(rows)
                rows = []
        if rows:
            yield self._rows_to_batch(rows)

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
