"""Join outputs carry build-side strings dictionary-encoded inside pipelines; every way out of a
pipeline must give the plan's plain types and the same rows as DuckDB."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from tests.support.reference import duckdb_connection

LEFT = pa.table({"k": [1, 2, 3, 4, 2, None], "x": [10, 20, 30, 40, 50, 60]})
RIGHT = pa.table(
    {"id": [1, 2, 3, 9], "name": ["one", "two", None, "nine"], "tag": ["a", "b", "a", "c"]}
)


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def small_batches(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    old = sl.get_config()
    sl.set_config(old.replace(batch_size=2, threads=request.param))
    yield
    sl.set_config(old)


def joined(how: str = "inner") -> sl.Stream:
    return sl.from_arrow(LEFT).join(sl.from_arrow(RIGHT), left_on="k", right_on="id", how=how)


def duck(sql: str) -> list[tuple[object, ...]]:
    con = duckdb_connection()
    con.register("l", LEFT)
    con.register("r", RIGHT)
    return sorted(con.sql(sql).fetchall(), key=repr)


def rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


@pytest.mark.usefixtures("small_batches")
def test_join_output_has_plain_types() -> None:
    out = joined("left").collect()
    assert out.schema == pa.schema(
        [("k", pa.int64()), ("x", pa.int64()), ("name", pa.string()), ("tag", pa.string())]
    )
    assert rows(out) == duck("SELECT l.k, l.x, r.name, r.tag FROM l LEFT JOIN r ON l.k = r.id")


@pytest.mark.usefixtures("small_batches")
def test_operators_downstream_of_a_join_see_plain_values() -> None:
    filtered = (
        joined().filter(sl.col("tag") == "a").with_columns(sl.col("name").str.upper().alias("up"))
    )
    assert rows(filtered.collect()) == duck(
        "SELECT l.k, l.x, r.name, r.tag, upper(r.name) FROM l JOIN r ON l.k = r.id WHERE r.tag = 'a'"
    )
    grouped = (
        joined()
        .group_by("tag")
        .agg(n=sl.count(), first=sl.col("name").min(), u=sl.col("name").n_unique())
    )
    assert rows(grouped.collect()) == duck(
        "SELECT r.tag, count(*), min(r.name), count(DISTINCT r.name) FROM l JOIN r ON l.k = r.id GROUP BY r.tag"
    )
    ordered = joined().sort(["tag", "x"], descending=[True, False]).collect()
    assert ordered.column("tag").to_pylist() == sorted(
        ordered.column("tag").to_pylist(), reverse=True
    )
    assert ordered.schema.field("tag").type == pa.string()
    assert joined().distinct().collect().num_rows == len(
        duck("SELECT DISTINCT l.k, l.x, r.name, r.tag FROM l JOIN r ON l.k = r.id")
    )


@pytest.mark.usefixtures("small_batches")
def test_udfs_unions_and_sinks_get_plain_types(tmp_path: pytest.TempPathFactory) -> None:
    seen: list[pa.DataType] = []

    def record(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen.append(batch.schema.field("name").type)
        return batch.append_column("len", pc.utf8_length(batch["name"]))

    assert joined().map_batches(record).collect().num_rows == 4
    assert set(seen) == {pa.string()}
    plain = sl.from_pydict({"k": [7], "x": [70], "name": ["seven"], "tag": ["z"]})
    expected = sorted([*rows(joined().collect()), (7, 70, "seven", "z")], key=repr)
    assert rows(joined().union(plain).collect()) == expected
    path = f"{tmp_path}/j.parquet"
    joined().to_parquet(path)
    assert pq.read_schema(path).field("name").type == pa.string()
    assert sum(b.num_rows for b in joined().iter_batches()) == 4
    assert all(b.schema.field("name").type == pa.string() for b in joined().iter_batches())


@pytest.mark.usefixtures("small_batches")
def test_join_of_a_join_probes_on_an_encoded_key() -> None:
    codes = sl.from_pydict({"tag": ["a", "b"], "label": ["alpha", "beta"]})
    chained = joined().join(codes, on="tag").select("k", "label")
    assert rows(chained.collect()) == sorted(
        [(1, "alpha"), (3, "alpha"), (2, "beta"), (2, "beta")], key=repr
    )


def test_genuine_dictionary_columns_keep_their_type() -> None:
    table = pa.table({"cat": pa.array(["a", "b", "a"]).dictionary_encode(), "v": [1, 2, 3]})
    out = sl.from_arrow(table).filter(sl.col("v") > 1).collect()
    assert out.schema.field("cat").type == table.schema.field("cat").type
    assert out.column("cat").to_pylist() == ["b", "a"]
