"""Exchanges: how rows move between stages, and the source a stage reads them through.

An :class:`Exchange` is one edge of the physical plan that crosses a stage boundary. Its
producer task splits each output batch into the consumer's partitions:

- ``hash``: by the hash of key columns (the one row hash of :mod:`sabot_lab.kernels`, so a key
  lands in the same partition on every agent and in-process);
- ``broadcast``: every consumer partition gets every row (a small join build side);
- ``single``: every row goes to partition 0 (sorts, limits, global aggregates).

In a stage's graph, the exchange appears as a SOURCE operator holding an
:class:`ExchangeSource`; a task binds it to the rows of its partition with :meth:`ExchangeSource.bind`.
An exchange fed by an unbounded stream is unbounded too, and one fed after a ``with_watermark``
carries its watermarks (to every partition) among the rows.

>>> import pyarrow as pa
>>> x = Exchange("x1", producer=0, node_id="filter_1", consumer=1, kind="hash", keys=("k",),
...              partitions=2, schema=pa.schema([("k", pa.int64())]))
>>> sorted((p, b.num_rows) for p, b in x.route(pa.record_batch({"k": [1, 2, 3, 4, 5]})))
[(0, 4), (1, 1)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sabot_lab.errors import PlanError
from sabot_lab.expr import Expr
from sabot_lab.kernels import hash_partition
from sabot_lab.logical.codec import schema_from_b64, schema_to_b64
from sabot_lab.logical.sources import SourceSpec, register_source

__all__ = ["EXCHANGE_KINDS", "BoundSource", "Exchange", "ExchangeSource"]

EXCHANGE_KINDS = ("hash", "broadcast", "single")


@dataclass(frozen=True)
class Exchange:
    """Rows of ``node_id`` (in stage ``producer``) sent to stage ``consumer``'s partitions."""

    exchange_id: str
    producer: int
    node_id: str
    consumer: int
    kind: str
    keys: tuple[str, ...]
    partitions: int
    schema: pa.Schema

    def route(self, batch: pa.RecordBatch) -> list[tuple[int, pa.RecordBatch]]:
        """The consumer partitions this batch's rows go to: ``(partition, rows)`` pairs."""
        if self.kind == "single" or self.partitions == 1:
            return [(0, batch)]
        if self.kind == "broadcast":
            return [(p, batch) for p in range(self.partitions)]
        parts = hash_partition(batch, self.keys, self.partitions)
        return [(p, part) for p, part in enumerate(parts) if part.num_rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (tasks carry their exchanges to agents)."""
        return {
            "exchange_id": self.exchange_id,
            "producer": self.producer,
            "node_id": self.node_id,
            "consumer": self.consumer,
            "kind": self.kind,
            "keys": list(self.keys),
            "partitions": self.partitions,
            "schema": schema_to_b64(self.schema),
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Exchange:
        """Inverse of :meth:`to_dict`."""
        return Exchange(
            data["exchange_id"],
            data["producer"],
            data["node_id"],
            data["consumer"],
            data["kind"],
            tuple(data["keys"]),
            data["partitions"],
            schema_from_b64(data["schema"]),
        )


class _StageInput(SourceSpec):
    """What a stage reads from another: rows of ``schema``, with watermarks under
    ``event_time`` (None: none), ending or not (``bounded``)."""

    def __init__(self, schema: pa.Schema, event_time: dict[str, Any] | None, bounded: bool) -> None:
        self._schema, self._event_time, self._bounded = schema, event_time, bounded

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    @property
    def event_time(self) -> dict[str, Any] | None:
        return self._event_time

    @property
    def bounded(self) -> bool:
        return self._bounded


@register_source
class ExchangeSource(_StageInput):
    """The rows a stage reads from an exchange; a task binds it to its partition's rows.
    ``event_time``: the settings of the watermarks it carries (None: none); ``bounded``:
    whether the rows end."""

    kind = "exchange"

    def __init__(
        self,
        exchange_id: str,
        schema: pa.Schema,
        event_time: dict[str, Any] | None = None,
        bounded: bool = True,
    ) -> None:
        super().__init__(schema, event_time, bounded)
        self.exchange_id = exchange_id

    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[pa.RecordBatch]:
        raise PlanError(f"exchange {self.exchange_id} is read by a task, which binds it first")

    def bind(self, read: Callable[[], Iterator[Any]]) -> BoundSource:
        """This exchange's input as the rows (and watermarks) ``read()`` yields (one task's
        partition)."""
        return BoundSource(
            self._schema, read, f"exchange {self.exchange_id}", self._event_time, self._bounded
        )

    def describe(self) -> str:
        return f"exchange {self.exchange_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "exchange_id": self.exchange_id,
            "schema": schema_to_b64(self._schema),
            "event_time": self._event_time,
            "bounded": self._bounded,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExchangeSource:
        return cls(
            data["exchange_id"],
            schema_from_b64(data["schema"]),
            data.get("event_time"),
            data.get("bounded", True),
        )


class BoundSource(_StageInput):
    """Rows produced at run time by a callable (a task's exchange input, which may carry
    watermarks among its batches); never serialized."""

    kind = "bound"

    def __init__(
        self,
        schema: pa.Schema,
        read: Callable[[], Iterator[Any]],
        label: str,
        event_time: dict[str, Any] | None = None,
        bounded: bool = True,
    ) -> None:
        super().__init__(schema, event_time, bounded)
        self._read = read
        self._label = label

    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[Any]:
        for item in self._read():
            keep = columns is None or not isinstance(item, pa.RecordBatch)
            yield item if keep else item.select(columns)

    def describe(self) -> str:
        return self._label

    def to_dict(self) -> dict[str, Any]:
        raise PlanError(f"{self._label} is bound to a running task and cannot be serialized")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceSpec:
        raise PlanError("a bound exchange input cannot be rebuilt from data")
