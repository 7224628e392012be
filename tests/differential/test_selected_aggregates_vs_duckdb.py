"""A filter right before a grouped count, sum or mean hands the aggregate the rows it keeps
by mask (:mod:`sabot_lab.engine.selections`) instead of copying them: against DuckDB on
random tables (keys numbered densely: dictionary-encoded text, a small integer range; and
hashed ones: integers with nulls, which take the copy), filters that keep none, few, most or
all rows, values with nulls in rows kept and in rows dropped. The filter's operator still
counts the rows it keeps, and the mask is what the aggregate reads."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, count
from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.executor import Executor
from sabot_lab.engine.operator_rows import OperatorRows
from sabot_lab.engine.selections import Selected, select_rows
from sabot_lab.logical import Filter
from tests.differential.test_grouped_sums_vs_duckdb import (
    VALUES,
    _rows,
    sums_counts_and_means,
    tables,
)
from tests.support.reference import duckdb_table

FILTERS = {  # ours, DuckDB's (a threshold ``t`` in both)
    "i above": (lambda t: col("i") > t, "i > {t}"),
    "f below": (lambda t: col("f") < t / 8, "f < {t} / 8"),
    "n not a multiple": (lambda t: (col("n") % (abs(t) % 4 + 2)) != 0, "n % ({m}) <> 0"),
    "d or i": (lambda t: (col("d") > t / 100) | (col("i") < t), "d > {t} / 100 OR i < {t}"),
    "i and n": (lambda t: (col("i") > t) & (col("n") <= 109), "i > {t} AND n <= 109"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    key=st.sampled_from(["k", "n", "h"]),
    kind=st.sampled_from(sorted(FILTERS)),
    threshold=st.integers(-(10**12), 10**12),
    nulls=st.booleans(),
)
def test_filtered_grouped_sums_match_duckdb(
    table: pa.Table, key: str, kind: str, threshold: int, nulls: bool
) -> None:
    if not nulls:  # (values with nulls take the copy: half the tables have none)
        for name in VALUES:
            zero = pa.scalar(0, pa.int8()).cast(table.schema.field(name).type)
            filled = pc.fill_null(table[name], zero)
            table = table.set_column(table.schema.get_field_index(name), name, filled)
    ours_filter, sql_filter = FILTERS[kind]
    aggs, sql = sums_counts_and_means()
    stream = sl.from_arrow(table).filter(ours_filter(threshold)).group_by(key).agg(*aggs)
    where = sql_filter.format(t=threshold, m=abs(threshold) % 4 + 2)
    expected = duckdb_table(f"SELECT {key}, {sql} FROM t WHERE {where} GROUP BY {key}", t=table)
    assert _rows(stream.collect(), key) == _rows(expected, key, approx=True)


def test_the_filter_counts_the_rows_it_keeps_and_the_aggregate_reads_its_mask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = pa.table({"k": [i % 7 for i in range(30_000)], "x": list(range(30_000))})
    stream = (
        sl.from_arrow(table)
        .filter(col("x") % 3 != 0)
        .group_by("k")
        .agg(total=col("x").sum(), n=count())
    )
    masks: list[int] = []
    counted = HashAggregate._selected_partial

    def seen(self: HashAggregate, selected: Selected) -> Any:
        masks.append(len(selected.kept))
        return counted(self, selected)

    monkeypatch.setattr(HashAggregate, "_selected_partial", seen)
    rows = OperatorRows()
    result = pa.Table.from_batches(list(Executor(stream.graph, rows=rows).run(stream.node_id)))
    expected = duckdb_table(
        "SELECT k, sum(x) AS total, count(*) AS n FROM t WHERE x % 3 <> 0 GROUP BY k", t=table
    )
    assert result.sort_by("k").to_pylist() == expected.sort_by("k").to_pylist()
    (filter_id,) = [n.operator_id for n in stream.graph if isinstance(n.op, Filter)]
    assert rows.snapshot()[filter_id] == 20_000
    assert sum(masks) == 30_000  # every row reached the aggregate with its mark


def test_a_selective_filter_copies_the_few_rows_it_keeps() -> None:
    batch = pa.record_batch({"x": list(range(9))})
    assert isinstance(select_rows(batch, col("x") > 2), Selected)  # six of nine: marked
    copied = select_rows(batch, col("x") > 5)  # three of nine: copied
    assert isinstance(copied, pa.RecordBatch) and copied.column("x").to_pylist() == [6, 7, 8]
    assert select_rows(batch, col("x") >= 0) is batch
    assert select_rows(batch, col("x") > 9) is None


@pytest.mark.parametrize(
    ("guard", "value", "sql"),
    [  # the filter keeps the rows where the aggregate's input can be computed
        (col("x") != 0, (sl.lit(1_000) // col("x")).alias("v"), "sum(1000 // x)"),
        (col("x") < 10**9, (col("x") * 10**10).alias("v"), "sum(x * 10000000000)"),
    ],
)
def test_an_input_computed_only_on_the_rows_a_filter_keeps(
    guard: Any, value: Any, sql: str
) -> None:
    # x is 0 or huge in a third of the rows: 1000 // x and x * 10^10 fail there
    x = [0 if i % 6 == 0 else 10**12 if i % 6 == 3 else i for i in range(30_000)]
    table = pa.table({"k": [i % 5 for i in range(30_000)], "x": x})
    stream = sl.from_arrow(table).filter(guard).group_by("k").agg(total=value.sum())
    where = "x <> 0" if "//" in sql else "x < 1000000000"
    expected = duckdb_table(f"SELECT k, {sql} AS total FROM t WHERE {where} GROUP BY k", t=table)
    assert stream.collect().sort_by("k").to_pylist() == expected.sort_by("k").to_pylist()
