"""The design document's Filter -> Join -> Sink example as a hand-built JobGraph, its data
(quotes with null symbols and prices, securities) and DuckDB's answer, for the unit and
cluster tests of the low-level plan API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab import JobGraph, OperatorType, StreamOperatorNode
from tests.support.reference import duckdb_table

__all__ = [
    "EXAMPLE_SQL",
    "example_graph",
    "expected_example",
    "quotes",
    "securities",
    "write_example_files",
]


def quotes(n: int = 2_000, seed: int = 3) -> pa.Table:
    """Quotes with null symbols and prices."""
    rng = np.random.default_rng(seed)
    symbols = [None if i % 17 == 0 else f"S{v}" for i, v in enumerate(rng.integers(0, 40, n))]
    prices = [None if i % 11 == 0 else float(v) for i, v in enumerate(rng.integers(1, 300, n))]
    return pa.table({"symbol": symbols, "price": prices, "qty": rng.integers(1, 9, n)})


def securities() -> pa.Table:
    return pa.table(
        {
            "symbol": [f"S{i}" for i in range(30)] + [None],
            "name": [f"company {i}" for i in range(30)] + ["nobody"],
            "sector": [["tech", "energy", None][i % 3] for i in range(31)],
        }
    )


def write_example_files(directory: Path) -> Path:
    """``quotes.parquet`` and ``securities.parquet`` in ``directory``; returns it."""
    pq.write_table(quotes(), directory / "quotes.parquet", row_group_size=200)  # splits
    pq.write_table(securities(), directory / "securities.parquet")
    return directory


def example_graph(files: Path, sink: dict[str, str] | None = None) -> JobGraph:
    """The document's Filter -> Join -> Sink example, with its parameters."""
    graph = JobGraph(job_name="example")
    source1 = StreamOperatorNode(
        operator_type=OperatorType.SOURCE,
        name="quotes",
        parameters={"path": str(files / "quotes.parquet")},
    )
    source2 = StreamOperatorNode(
        operator_type=OperatorType.SOURCE,
        name="securities",
        parameters={"path": str(files / "securities.parquet")},
    )
    filter_op = StreamOperatorNode(
        operator_type=OperatorType.FILTER,
        name="filter_price",
        parameters={"predicate": sl.col("price") > 100},
    )
    join_op = StreamOperatorNode(
        operator_type=OperatorType.HASH_JOIN, name="enrich", parameters={"on": "symbol"}
    )
    sink_op = StreamOperatorNode(
        operator_type=OperatorType.SINK,
        name="output",
        parameters=sink or {"path": str(files / "out")},
    )
    for node in (source1, source2, filter_op, join_op, sink_op):
        graph.add_operator(node)
    graph.connect(source1.operator_id, filter_op.operator_id)
    graph.connect(filter_op.operator_id, join_op.operator_id)
    graph.connect(source2.operator_id, join_op.operator_id)
    graph.connect(join_op.operator_id, sink_op.operator_id)
    return graph


EXAMPLE_SQL = (
    "SELECT q.symbol, q.price, q.qty, s.name, s.sector FROM q JOIN s ON q.symbol = s.symbol "
    "WHERE q.price > 100"
)


def expected_example() -> pa.Table:
    return duckdb_table(EXAMPLE_SQL, q=quotes(), s=securities())
