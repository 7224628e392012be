"""User aggregates (``@sl.udaf``) against the same aggregates in plain Python per group and in
DuckDB's SQL, on random rows with nulls: grouped (hashed and dense keys), global, in tiny
batches on one and two threads (partials merged), mixed with built-in aggregates, in
tumbling and sliding windows, as plain Python (``compile=False``), after a JSON round trip of
the plan, and from a restored window state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.engine.items import Watermark
from sabot_lab.engine.state import open_state
from sabot_lab.engine.stream_operator import drive
from sabot_lab.engine.window_aggregate import window_operator
from sabot_lab.window_specs import tumbling
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.running import run_to_end
from tests.support.user_aggregates import (
    DUCKDB_SQL,
    REFERENCES,
    SumOfSquares,
    WeightedMean,
    WeightedMeanFunctions,
    python_reference,
    random_rows,
)
from tests.support.windows import out_of_order_events

NAMES = list(REFERENCES)


def user_aggregates() -> list[sl.Expr]:
    return [REFERENCES[name][1]().alias(name) for name in NAMES]


@pytest.mark.parametrize("keys", [["k"], ["g"], ["k", "g"]], ids=["string", "dense", "two"])
def test_grouped_user_aggregates_equal_plain_python_and_duckdb(keys: list[str]) -> None:
    rows = random_rows(seed=1, n=2_000)
    stream = sl.from_arrow(rows).group_by(*keys).agg(*user_aggregates())
    expected = python_reference(rows, keys, NAMES)
    in_sql = duckdb_table(f"SELECT {', '.join(keys)}, {DUCKDB_SQL} FROM r GROUP BY ALL", r=rows)
    for result in collect_all_ways(stream):
        assert result.schema.field("sr").type == pa.int64()
        assert_same_rows(result, expected, rel=1e-9)
        assert_same_rows(result.select([*keys, "wm", "gm", "ss"]), in_sql, rel=1e-9)


def test_user_aggregates_mix_with_built_in_ones_and_expressions() -> None:
    rows = random_rows(seed=2, n=1_500)
    stream = (
        sl.from_arrow(rows)
        .group_by("k")
        .agg(
            sl.col("x").sum().alias("sx"),
            (SumOfSquares(sl.col("x")) / sl.col("x").count()).alias("msq"),
            sl.col("x").std().alias("sd"),
            WeightedMean(sl.col("x") * 2, sl.col("w")).alias("wm2"),
            sl.count().alias("n"),
        )
    )
    expected = duckdb_table(
        "SELECT k, sum(x) AS sx, sum(x * x) / count(x) AS msq, stddev_samp(x) AS sd, "
        "sum(2 * x * w) FILTER (WHERE x IS NOT NULL AND w IS NOT NULL) / "
        "sum(w) FILTER (WHERE x IS NOT NULL AND w IS NOT NULL) AS wm2, count(*) AS n "
        "FROM r GROUP BY k",
        r=rows,
    )
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected, rel=1e-9)


def test_a_global_user_aggregate_and_one_over_no_rows() -> None:
    rows = random_rows(seed=3, n=800)
    whole = sl.from_arrow(rows).agg(*user_aggregates()).collect()
    assert_same_rows(whole, python_reference(rows.append_column("_", pa.nulls(800)), [], NAMES))
    empty = sl.from_arrow(rows).filter(sl.col("x") > 1e9).agg(*user_aggregates()).collect()
    assert empty.to_pylist() == [dict.fromkeys(NAMES)]


def test_plain_python_functions_give_the_same_rows() -> None:
    rows = random_rows(seed=4, n=600)
    plain = sl.udaf(return_dtype="float64", compile=False)(WeightedMeanFunctions)
    stream = sl.from_arrow(rows).group_by("k").agg(plain(sl.col("x"), sl.col("w")).alias("wm"))
    for result in collect_all_ways(stream):
        assert_same_rows(result, python_reference(rows, ["k"], ["wm"]), rel=1e-9)


def test_a_plan_with_user_aggregates_survives_a_json_round_trip() -> None:
    rows = random_rows(seed=5, n=500)
    stream = sl.from_arrow(rows).group_by("k").agg(*user_aggregates())
    text = stream.graph.to_json()
    assert json.loads(sl.JobGraph.from_json(text).to_json()) == json.loads(text)
    again = sl.Stream(sl.JobGraph.from_json(text), stream.node_id)
    assert_same_rows(again.collect(), python_reference(rows, ["k"], NAMES), rel=1e-9)


@pytest.mark.parametrize(("size", "slide"), [("10s", "10s"), ("10s", "2s")])
def test_user_aggregates_in_event_time_windows_equal_duckdb(size: str, slide: str) -> None:
    events = out_of_order_events(7, 4_000, disorder_ms=3_000)
    spec = sl.tumbling(size, on="t") if size == slide else sl.sliding(size, slide, on="t")
    stream = sl.from_arrow(events).with_watermark("t", "4s").window(spec).group_by("k")
    config = sl.get_config()
    sl.set_config(config.replace(batch_size=97))
    try:
        result = stream.agg(
            SumOfSquares(sl.col("x")).alias("ss"), sl.col("x").count().alias("cx")
        ).run()
    finally:
        sl.set_config(config)
    size_ms, slide_ms = int(size[:-1]) * 1000, int(slide[:-1]) * 1000
    expected = duckdb_table(
        f"""WITH w AS (
              SELECT *, unnest(generate_series(
                  (ms // {slide_ms}) * {slide_ms} - ({size_ms} - {slide_ms}),
                  (ms // {slide_ms}) * {slide_ms}, {slide_ms})) AS ws
              FROM ev WHERE t IS NOT NULL)
            SELECT k, ws, sum(x * x) AS ss, count(x) AS cx FROM w GROUP BY ALL""",
        ev=events.append_column("ms", events["t"].cast(pa.int64())),
    )
    ours = result.table.select(["k", "window_start", "ss", "cx"])
    ours = ours.set_column(1, "ws", ours["window_start"].cast(pa.int64()))
    assert ours.num_rows > 20
    assert_same_rows(ours, expected, rel=1e-9)


@pytest.mark.parametrize(("before", "after"), [("memory", "rocksdb"), ("rocksdb", "memory")])
def test_a_windowed_user_aggregate_continues_from_a_restored_snapshot(
    before: str, after: str, tmp_path: Path
) -> None:
    events = out_of_order_events(9, 3_000, disorder_ms=0).select(["t", "k", "x", "y"])
    items: list[object] = []
    for batch in events.to_batches(max_chunksize=100):
        items += [batch, Watermark(int(batch["t"][-1].value) * 1000 - 5_000_000)]
    aggs = [WeightedMean(sl.col("x"), sl.col("y")).alias("wm")]
    spec = tumbling("30s", on="t")

    def operator(state: object) -> object:
        return window_operator(spec, ["k"], aggs, events.schema, state)  # type: ignore[arg-type]

    whole = list(drive(operator(open_state()), iter(items)))  # type: ignore[arg-type]
    first = open_state(before)
    emitted = list(drive(operator(first), iter(items[:13]), final=False))  # type: ignore[arg-type]
    first.snapshot(tmp_path / "checkpoint")
    first.close()
    second = open_state(after)
    second.restore(tmp_path / "checkpoint")
    emitted += list(drive(operator(second), iter(items[13:])))  # type: ignore[arg-type]
    second.close()
    restored, straight = (
        pa.Table.from_batches([b for b in out if isinstance(b, pa.RecordBatch)])
        for out in (emitted, whole)
    )
    assert restored.num_rows > 10
    assert_same_rows(restored, straight, rel=1e-12)
    expected = duckdb_table(
        "SELECT k, time_bucket(INTERVAL 30 SECONDS, t) AS window_start, "
        "time_bucket(INTERVAL 30 SECONDS, t) + INTERVAL 30 SECONDS AS window_end, "
        "sum(x * y) FILTER (WHERE x IS NOT NULL AND y IS NOT NULL) / "
        "sum(y) FILTER (WHERE x IS NOT NULL AND y IS NOT NULL) AS wm FROM e GROUP BY ALL",
        e=events,
    )
    assert_same_rows(restored, expected, rel=1e-9)


def test_many_groups_in_one_batch_take_the_compiled_loop() -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    rows = pa.table({"k": rng.integers(0, 50_000, n), "x": rng.normal(size=n)})
    result = sl.from_arrow(rows).group_by("k").agg(SumOfSquares(sl.col("x")).alias("ss"))
    expected = duckdb_table("SELECT k, sum(x * x) AS ss FROM r GROUP BY k", r=rows)
    assert_same_rows(result.collect(), expected, rel=1e-9)


def test_a_running_user_aggregate_emits_upserts_ending_at_plain_pythons_answer() -> None:
    chunks = [random_rows(seed=100 + i, n=300) for i in range(12)]

    def chunk(i: int) -> pa.Table | None:
        return chunks[i] if i < len(chunks) else None  # the plan sees an unbounded source

    stream = sl.from_generator(chunk).group_by("k").agg(*user_aggregates())
    assert stream.changelog == "upsert"
    updates = run_to_end(stream).table
    assert updates.num_rows > 6 * len(chunks) // 2  # updates, not one row per key
    latest = {row["k"]: row for row in updates.to_pylist()}
    expected = python_reference(pa.concat_tables(chunks), ["k"], NAMES)
    assert_same_rows(pa.Table.from_pylist(list(latest.values())), expected, rel=1e-9)


def test_user_aggregates_in_session_windows_equal_the_built_in_ones() -> None:
    events = out_of_order_events(13, 3_000, disorder_ms=2_000)
    weights = sl.when(sl.col("x").is_not_null()).then(sl.col("y")).sum()
    config = sl.get_config()
    sl.set_config(config.replace(batch_size=113))
    try:
        result = (
            sl.from_arrow(events)
            .with_watermark("t", "3s")
            .window(sl.session("700ms", on="t"))
            .group_by("k")
            .agg(
                ss=SumOfSquares(sl.col("x")),
                wm=WeightedMean(sl.col("x"), sl.col("y")),
                ss_builtin=(sl.col("x") * sl.col("x")).sum(),
                wm_builtin=sl.when(weights != 0).then((sl.col("x") * sl.col("y")).sum() / weights),
                n=sl.count(),
            )
            .run()
            .table
        )
    finally:
        sl.set_config(config)
    assert result.num_rows > 100
    ours = result.select(["k", "window_start", "window_end", "ss", "wm", "n"])
    theirs = result.select(["k", "window_start", "window_end", "ss_builtin", "wm_builtin", "n"])
    assert_same_rows(ours, theirs, rel=1e-9)


@pytest.mark.parametrize("text", [pa.string(), pa.large_string()], ids=str)
def test_text_keys_numbered_by_encoding_equal_duckdb(text: pa.DataType) -> None:
    rng = np.random.default_rng(12)
    n = 100_000
    names = np.array([f"n{j}" for j in range(20_000)], dtype=object)
    keys = pa.array(names[rng.integers(0, len(names), n)], text, mask=rng.random(n) < 0.05)
    rows = pa.table({"k": keys, "x": rng.normal(size=n)})
    result = sl.from_arrow(rows).group_by("k").agg(SumOfSquares(sl.col("x")).alias("ss"))
    expected = duckdb_table("SELECT k, sum(x * x) AS ss FROM r GROUP BY k", r=rows)
    assert_same_rows(result.collect(), expected, rel=1e-9)
