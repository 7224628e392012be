"""State backends: the same contract in memory and in RocksDB, snapshots that restore into
either, and operators that continue from a restored snapshot as if never stopped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sabot_lab.engine.items import Watermark
from sabot_lab.engine.state import open_state
from sabot_lab.engine.stream_operator import drive
from sabot_lab.engine.window_aggregate import window_operator
from sabot_lab.expr import col, count
from sabot_lab.window_specs import WindowSpec, session, sliding, tumbling

BACKENDS = ["memory", "rocksdb"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_put_get_pop_delete_keys_clear(kind: str) -> None:
    state = open_state(kind)
    tables = {f"k{i}": pa.table({"x": list(range(i + 1)), "s": ["v"] * (i + 1)}) for i in range(5)}
    for key, table in reversed(tables.items()):
        state.put(key, table)
    assert state.keys() == sorted(tables)
    assert state.get("k3").equals(tables["k3"])
    assert state.get("missing") is None
    assert state.pop("k0").equals(tables["k0"]) and state.pop("k0") is None
    state.delete("k1")
    state.delete("k1")  # absent: nothing happens
    assert [k for k, _ in state.items()] == ["k2", "k3", "k4"]
    state.put("k2", tables["k4"])  # replaces
    assert state.get("k2").num_rows == 5
    state.clear()
    assert state.keys() == []
    state.close()


@pytest.mark.parametrize("source", BACKENDS)
@pytest.mark.parametrize("target", BACKENDS)
def test_a_snapshot_restores_into_either_backend(source: str, target: str, tmp_path: Path) -> None:
    state = open_state(source)
    state.put("a", pa.table({"x": [1, 2]}))
    state.put("b", pa.table({"t": pa.array([5], pa.timestamp("ms"))}))
    state.snapshot(tmp_path / "snap")
    state.put("c", pa.table({"x": [9]}))  # after the snapshot: not in it
    other = open_state(target)
    other.put("stale", pa.table({"x": [0]}))
    other.restore(tmp_path / "snap")
    assert other.keys() == ["a", "b"]
    assert other.get("a").equals(pa.table({"x": [1, 2]}))
    assert other.get("b").column("t").type == pa.timestamp("ms")
    with pytest.raises(Exception, match="holds no state snapshot"):
        other.restore(tmp_path)
    state.close()
    other.close()


def timed_batches(seed: int) -> list[pa.RecordBatch]:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, 60_000, 4_000))
    table = pa.table(
        {
            "t": pa.array(times, pa.timestamp("ms")),
            "k": rng.integers(0, 7, 4_000),
            "x": rng.normal(size=4_000),
        }
    )
    return table.to_batches(max_chunksize=250)


def with_watermarks(batches: list[pa.RecordBatch]) -> list[object]:
    items: list[object] = []
    for batch in batches:
        items.append(batch)
        latest = batch.column("t").cast(pa.int64()).to_numpy().max()
        items.append(Watermark(int(latest) * 1_000 - 2_000_000))
    return items


def windows_of(out: list[object]) -> list[tuple[object, ...]]:
    table = pa.Table.from_batches([b for b in out if isinstance(b, pa.RecordBatch)])
    return sorted(zip(*(c.to_pylist() for c in table.columns), strict=True), key=repr)


@pytest.mark.parametrize(
    "spec", [tumbling("5s", on="t"), sliding("10s", "2s", on="t"), session("800ms", on="t")]
)
@pytest.mark.parametrize("before, after", [("memory", "rocksdb"), ("rocksdb", "memory")])
def test_a_window_operator_continues_from_a_restored_snapshot(
    spec: WindowSpec, before: str, after: str, tmp_path: Path
) -> None:
    items = with_watermarks(timed_batches(3))
    schema = items[0].schema  # type: ignore[attr-defined]
    aggs = [count().alias("n"), col("x").sum().alias("sx"), col("x").max().alias("hi")]
    whole = list(drive(window_operator(spec, ["k"], aggs, schema, open_state()), iter(items)))

    cut = len(items) // 2
    first = open_state(before)
    op = window_operator(spec, ["k"], aggs, schema, first)
    emitted = list(drive(op, iter(items[:cut]), final=False))
    first.snapshot(tmp_path / "checkpoint")
    first.close()
    second = open_state(after)
    second.restore(tmp_path / "checkpoint")
    resumed = window_operator(spec, ["k"], aggs, schema, second)
    emitted += list(drive(resumed, iter(items[cut:])))
    assert windows_of(emitted) == windows_of(whole)
    left = second.keys()
    assert not [k for k in left if not k.startswith("~")]  # all windows closed at the end
    second.close()
