"""Checking operators' ``schema()`` against the engine: the schemas of the batches each
operator of a plan outputs as it runs in-process, as they leave the operator (before the
executor materializes them to the plan's schema)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa

from sabot_lab.engine import Executor
from sabot_lab.engine.operator_rows import OperatorRows
from sabot_lab.engine.pipeline import Pipeline
from sabot_lab.logical import JobGraph, Operator

__all__ = [
    "OutputSchemas",
    "assert_same_schema",
    "checked_operators",
    "engine_output",
    "unencoded",
]


class OutputSchemas(OperatorRows):
    """Counts rows like :class:`OperatorRows` and records the schema of each batch (or table)
    every operator outputs, as it leaves the operator."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, list[pa.Schema]] = defaultdict(list)

    def counted(self, pipeline: Pipeline, operator_id: str) -> Pipeline:
        pipeline = super().counted(pipeline, operator_id)
        if not pipeline.steps:
            source = pipeline.source
            return replace(pipeline, source=lambda: self._recorded(source(), operator_id))
        last = pipeline.steps[-1]

        def step(batch: Any) -> Any:
            out = last.fn(batch)
            self._record(out, operator_id)
            return out

        return replace(pipeline, steps=(*pipeline.steps[:-1], replace(last, fn=step)))

    def _recorded(self, items: Iterator[Any], operator_id: str) -> Iterator[Any]:
        for item in items:
            self._record(item, operator_id)
            yield item

    def _record(self, item: Any, operator_id: str) -> None:
        if isinstance(item, pa.RecordBatch | pa.Table):
            self.seen[operator_id].append(item.schema)


def engine_output(graph: JobGraph, output: str) -> dict[str, list[pa.Schema]]:
    """The schemas of the batches each operator of ``graph`` outputs when ``output`` runs."""
    recorder = OutputSchemas()
    for _ in Executor(graph, rows=recorder).run(output):
        pass
    return recorder.seen


def unencoded(engine: pa.DataType, declared: pa.DataType) -> pa.DataType:
    """``engine``, without a dictionary encoding the engine added to a ``declared`` type."""
    if pa.types.is_dictionary(engine) and not pa.types.is_dictionary(declared):
        return engine.value_type
    return engine


def assert_same_schema(engine: pa.Schema, declared: pa.Schema, where: str) -> None:
    """The same column names and types, but for the engine's own dictionary encodings."""
    assert engine.names == declared.names, where
    for got, want in zip(engine, declared, strict=True):
        assert unencoded(got.type, want.type) == want.type, f"{where}: {got} vs {want}"


def checked_operators(graph: JobGraph, output: str) -> list[Operator]:
    """Run ``output`` and assert that the ``schema()`` of each operator it needs is its plan
    node's schema and that of every batch the engine outputs for it (operators whose schema
    a user function decides are left out); return the operators checked on some rows."""
    seen = engine_output(graph, output)
    checked = []
    for node in graph.subgraph(output).topological_sort():
        declared = node.op.schema([graph.node(u).output_schema for u in node.upstream])
        if declared is None:
            continue
        where = f"{node.label()} ({node.operator_id})"
        assert declared.equals(node.output_schema), where
        for schema in seen.get(node.operator_id, []):
            assert_same_schema(schema, declared, where)
        if seen.get(node.operator_id):
            checked.append(node.op)
    return checked
