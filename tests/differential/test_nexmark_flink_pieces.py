"""The pieces of Flink SQL two Nexmark texts need: ``SPLIT_INDEX`` (q22, 0-based, null where
there is no part; q22 itself is in test_nexmark_flink_texts.py) equals DuckDB's ``split_part``
(1-based, '' there) moved by one, and q10's
``PARTITIONED BY (dt, hm)`` filesystem table of csv files with ``DATE_FORMAT`` writes hive
directories that read back as the rows DuckDB computes. q13's lookup join runs on the
never-ending generator, the bounded side input built first."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.errors import SQLError
from sabot_lab.examples import nexmark_flink as nf
from sabot_lab.logical import HashJoin
from sabot_lab.logical.termination import flow
from tests.support.reference import assert_same_rows, duckdb_table

EVENTS, RATE = 140_000, 1_000  # 140 s of event time: three minutes of the hour

TEXTS = st.lists(
    st.one_of(st.none(), st.text(alphabet="ab/-=", max_size=8)), min_size=1, max_size=20
)


def _split_index_reference(table: pa.Table, delimiter: str, index: int) -> pa.Table:
    """Flink's SPLIT_INDEX in DuckDB: no part of an empty string, none past the last."""
    return duckdb_table(
        f"SELECT CASE WHEN s <> '' AND len(string_split(s, '{delimiter}')) > {index} "
        f"THEN split_part(s, '{delimiter}', {index + 1}) END AS part FROM t",
        t=table,
    )


@settings(max_examples=30, deadline=None)
@given(TEXTS, st.sampled_from(["/", "-=", "a"]), st.integers(0, 4))
def test_split_index_equals_duckdb_split_part_counted_from_zero(
    texts: list[str | None], delimiter: str, index: int
) -> None:
    table = pa.table({"s": pa.array(texts, pa.string())})
    result = sl.sql(f"SELECT SPLIT_INDEX(s, '{delimiter}', {index}) AS part FROM t", t=table)
    assert_same_rows(result.collect(), _split_index_reference(table, delimiter, index), True)


def test_split_index_of_a_negative_index_or_null_argument_is_null() -> None:
    table = pa.table({"s": ["a/b", None]})
    result = sl.sql(
        "SELECT SPLIT_INDEX(s, '/', -1) AS a, SPLIT_INDEX(s, NULL, 0) AS b, "
        "SPLIT_INDEX(s, '/', NULL) AS c FROM t",
        t=table,
    ).collect()
    assert result.to_pydict() == {"a": [None, None], "b": [None, None], "c": [None, None]}


def test_split_index_with_an_empty_delimiter_is_refused_naming_it() -> None:
    with pytest.raises(SQLError, match=r"SPLIT_INDEX\(\) with an empty delimiter"):
        sl.sql("SELECT SPLIT_INDEX(s, '', 0) FROM t", t=pa.table({"s": ["a"]}))


@pytest.fixture(scope="module")
def bids() -> pa.Table:
    return sl.nexmark(events=EVENTS, event_rate=RATE).bids.collect()


def _context() -> sl.SQLContext:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=EVENTS, rate=RATE))
    return ctx


def test_q10_writes_hive_directories_of_csv_that_read_back_as_duckdb_rows(
    bids: pa.Table, tmp_path: Path
) -> None:
    ctx = _context()
    written = ctx.execute(nf.script("q10", nexmark_dir=tmp_path, submit_time="run1"))
    root = tmp_path / "data" / "output" / "run1" / "bid"
    expected = duckdb_table(
        "SELECT auction, bidder, price, dateTime, extra, strftime(dateTime, '%Y-%m-%d') AS dt, "
        "strftime(dateTime, '%H:%M') AS hm FROM bids",
        bids=bids,
    )
    partitions = duckdb_table("SELECT DISTINCT dt, hm FROM e ORDER BY ALL", e=expected)
    assert partitions.num_rows == 3  # 00:00 to 00:02
    for row in partitions.to_pylist():
        directory = root / f"dt={row['dt']}" / f"hm={row['hm'].replace(':', '%3A')}"
        assert (directory / "_SUCCESS").exists()  # 'sink.partition-commit.policy.kind'
        files = [p for p in directory.iterdir() if p.suffix == ".csv"]
        assert files and all(p.read_text().count("\n") > 0 for p in files)
    back = ctx.execute("SELECT * FROM nexmark_q10")
    assert isinstance(back, sl.Stream)
    rows = back.collect()
    assert written == rows.num_rows == expected.num_rows
    assert_same_rows(rows, expected)


def test_q13_on_the_never_ending_generator_looks_each_bid_up_in_the_side_input(
    tmp_path: Path,
) -> None:
    side_input = tmp_path / "side_input.txt"
    nf.write_side_input(side_input)
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE))
    tables, query = nf.script("q13", side_input=side_input).split("INSERT INTO nexmark_q13")
    ctx.execute(tables)
    stream = ctx.execute(query)
    assert isinstance(stream, sl.Stream) and not stream.bounded
    plan = stream.optimize()
    joins = [n for n in plan.graph.nodes.values() if isinstance(n.op, HashJoin)]
    assert joins and all(flow(plan.graph, n.upstream[1]).ends for n in joins)  # built first
    rows = stream.head(5_000).collect()
    assert rows.num_rows == 5_000
    assert rows["value"].to_pylist() == [str(a % 10_000) for a in rows["auction"].to_pylist()]
