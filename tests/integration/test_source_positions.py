"""Replay positions of generator, iterable, Parquet/CSV and Arrow sources: a checkpointed run
stopped after a checkpoint and restored from it gives, with the rows released before the
checkpoint's barrier, each of the source's rows once, as DuckDB or pyarrow reads them; on
one task, on several splits of the source, and on a cluster whose agent dies."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.config import Config
from sabot_lab.engine import Executor
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.executor import checkpoint_names
from sabot_lab.engine.items import Barrier
from sabot_lab.logical import JobGraph, OperatorType, StreamOperatorNode
from sabot_lab.physical import plan_stages
from sabot_lab.physical.task import run_task
from tests.support.agent_kills import kill_an_agent_running
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table

EXAMPLES = settings(max_examples=12, deadline=None)


def config(batch_size: int) -> Config:
    return Config(threads=1, batch_size=batch_size, max_in_flight=1)


def source_node(graph: JobGraph) -> StreamOperatorNode:
    (node,) = [n for n in graph if n.operator_type == OperatorType.SOURCE]
    return node


# -- one task -------------------------------------------------------------------------------


class Run:
    """One run of a stream on one task, read like an exactly-once sink: the rows before a
    checkpoint's barrier are released, the rest is lost when the run stops. The stream is
    built anew for each run, as a restarted process would."""

    def __init__(
        self, stream: sl.Stream, directory: Path, batch_size: int, restore: int | None
    ) -> None:
        plan = stream.optimize()
        self.checkpoints = Checkpoints(directory, restore=restore)
        executor = Executor(plan.graph, config(batch_size), self.checkpoints)
        self.items: Iterator[Any] = executor.run_items(plan.output)[0]

    def until_checkpoint(self, ask_at: int) -> list[pa.RecordBatch]:
        """Ask for a checkpoint once ``ask_at`` rows came out; return the batches before its
        barrier; read one batch more (lost) and stop, as a crash would."""
        released: list[pa.RecordBatch] = []
        rows = 0
        if ask_at == 0:
            self.checkpoints.request()
        for item in self.items:
            if isinstance(item, Barrier):
                break
            if isinstance(item, pa.RecordBatch):
                released.append(item)
                rows += item.num_rows
                if rows >= ask_at and not self.checkpoints.requested():
                    self.checkpoints.request()
        else:
            raise AssertionError("the run ended before the checkpoint's barrier came")
        next(self.items, None)  # rows after the barrier: the restored run makes them again
        self.items.close()  # type: ignore[attr-defined]
        return released

    def rest(self) -> list[pa.RecordBatch]:
        """The batches to the end of the run."""
        return [item for item in self.items if isinstance(item, pa.RecordBatch)]


def stopped_and_restored(
    make: Callable[[], sl.Stream], batch_size: int, ask_at: int
) -> tuple[pa.Table, pa.Table]:
    """The rows a run released before its first checkpoint, and the rows of a run restored
    from that checkpoint."""
    with tempfile.TemporaryDirectory() as directory:
        before = Run(make(), Path(directory), batch_size, None).until_checkpoint(ask_at)
        after = Run(make(), Path(directory), batch_size, restore=1).rest()
    schema = make().schema
    return pa.Table.from_batches(before, schema), pa.Table.from_batches(after, schema)


def assert_each_row_once(before: pa.Table, after: pa.Table, expected: pa.Table) -> None:
    """The released rows, then the restored run's, are the expected rows in order."""
    assert pa.concat_tables([before, after]).to_pylist() == expected.to_pylist()


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four Parquet files of 2,500 rows each, in row groups of 400 (the last one 100)."""
    directory = tmp_path_factory.mktemp("parquet")
    for f in range(4):
        ids = list(range(f * 2_500, (f + 1) * 2_500))
        table = pa.table({"id": ids, "k": [i % 7 for i in ids], "s": [f"r{i}" for i in ids]})
        pq.write_table(table, directory / f"part-{f}.parquet", row_group_size=400)
    return directory


@given(batch_size=st.integers(50, 700), share=st.floats(0.0, 0.5), low=st.integers(0, 5_000))
@EXAMPLES
def test_parquet_files_resume_after_their_row_group_with_filter_and_columns(
    parquet_dir: Path, batch_size: int, share: float, low: int
) -> None:
    """The filter on ``id`` is applied by the source, which skips row groups by their
    statistics; only the two columns needed are read."""

    def make() -> sl.Stream:
        return sl.from_parquet(parquet_dir).filter(sl.col("id") >= low).select("id", "k")

    parameters = source_node(make().optimize().graph).parameters
    assert parameters["predicate"] is not None and parameters["columns"] == ["id", "k"]
    expected = duckdb_table(
        f"SELECT id, k FROM read_parquet('{parquet_dir}/*.parquet') WHERE id >= {low} ORDER BY id"
    )
    before, after = stopped_and_restored(make, batch_size, int(share * expected.num_rows))
    assert_each_row_once(before, after, expected)


@given(batch_size=st.integers(20, 900), share=st.floats(0.0, 0.5))
@EXAMPLES
def test_csv_files_resume_after_the_rows_read_of_their_file(
    tmp_path_factory: pytest.TempPathFactory, batch_size: int, share: float
) -> None:
    directory = tmp_path_factory.mktemp("csv")
    for f in range(3):
        ids = list(range(f * 1_500, (f + 1) * 1_500))
        names = [f"n{i}" for i in ids]
        pcsv.write_csv(pa.table({"id": ids, "name": names}), directory / f"{f}.csv")

    def make() -> sl.Stream:
        return sl.from_csv(directory).filter(sl.col("id") % 3 != 0)

    expected = duckdb_table(
        f"SELECT * FROM read_csv('{directory}/*.csv') WHERE id % 3 <> 0 ORDER BY id"
    )
    before, after = stopped_and_restored(make, batch_size, int(share * expected.num_rows))
    assert_each_row_once(before, after, expected)


@given(batch_size=st.integers(10, 500), share=st.floats(0.0, 0.5))
@EXAMPLES
def test_an_arrow_table_resumes_after_the_rows_sent(batch_size: int, share: float) -> None:
    table = pa.table({"x": range(4_000), "y": [i % 11 for i in range(4_000)], "z": ["a"] * 4_000})

    def make() -> sl.Stream:
        return sl.from_arrow(table).filter(sl.col("y") != 3).select("x", "y")

    assert source_node(make().optimize().graph).parameters["columns"] == ["x", "y"]
    expected = duckdb_table("SELECT x, y FROM t WHERE y <> 3", t=table)
    before, after = stopped_and_restored(make, batch_size, int(share * expected.num_rows))
    assert_each_row_once(before, after, expected)


def test_a_limit_pushed_into_the_source_keeps_its_count_across_a_restore(
    parquet_dir: Path,
) -> None:
    def make() -> sl.Stream:
        return sl.from_parquet(parquet_dir).select("id").limit(3_000)

    assert source_node(make().optimize().graph).parameters["limit"] == 3_000
    expected = duckdb_table(f"SELECT id FROM read_parquet('{parquet_dir}/*.parquet') LIMIT 3000")
    before, after = stopped_and_restored(make, 256, 1_000)
    assert_each_row_once(before, after, expected)


# -- generator and iterables ----------------------------------------------------------------

N = 40  # tables from the generator function


def sizes(i: int) -> int:
    return 20 + (i * 37) % 90


def generated(i: int) -> pa.Table:
    return pa.table({"i": [i] * sizes(i), "j": list(range(sizes(i)))})


@given(batch_size=st.integers(7, 150), share=st.floats(0.0, 0.5))
@EXAMPLES
def test_a_generator_restarts_at_the_next_call_and_never_calls_the_earlier_ones(
    batch_size: int, share: float
) -> None:
    calls: list[int] = []

    def fn(i: int) -> pa.Table | None:
        calls.append(i)
        return generated(i) if i < N else None

    def make() -> sl.Stream:
        return sl.from_generator(fn, schema=generated(0).schema).filter(sl.col("j") % 4 != 1)

    everything = pa.concat_tables([generated(i) for i in range(N)])
    expected = duckdb_table("SELECT * FROM t WHERE j % 4 <> 1", t=everything)
    with tempfile.TemporaryDirectory() as directory:
        ask_at = int(share * expected.num_rows)
        released = Run(make(), Path(directory), batch_size, None).until_checkpoint(ask_at)
        calls.clear()
        rest = Run(make(), Path(directory), batch_size, restore=1).rest()
        plan = make().optimize()
        name = checkpoint_names(plan.graph)[source_node(plan.graph).operator_id]
        saved = Checkpoints(directory, restore=1).load(name)
    before = pa.Table.from_batches(released, expected.schema)
    assert_each_row_once(before, pa.Table.from_batches(rest, expected.schema), expected)
    # fn is called again from the table the checkpoint was in, never for the earlier ones
    assert calls == list(range(saved["items"], N + 1))
    last = before["i"][-1].as_py()  # the table of the last row released
    assert saved["items"] in (last, last + 1)


def test_a_restored_generator_keeps_its_rate() -> None:
    """200 rows a call at 2,000 rows/s: the restored run's 2,000 rows take about 0.9 s (the
    first call is not held back), neither a burst nor a wait for the time before."""

    def make() -> sl.Stream:
        return sl.from_generator(
            lambda i: {"n": list(range(200 * i, 200 * i + 200))} if i < 20 else None,
            max_rows_per_second=2_000,
        )

    with tempfile.TemporaryDirectory() as directory:
        released = Run(make(), Path(directory), 200, None).until_checkpoint(2_000)
        time.sleep(0.5)  # the restore starts later than the first run's pace would say
        restored = Run(make(), Path(directory), 200, restore=1)
        started = time.monotonic()
        rest = restored.rest()
        took = time.monotonic() - started
    rows = sum(b.num_rows for b in released + rest)
    after = sum(b.num_rows for b in rest)
    assert rows == 4_000
    expected = (after - 200) / 2_000
    assert expected * 0.9 <= took <= expected + 0.7


@given(batch_size=st.integers(3, 60), share=st.floats(0.0, 0.5), factory=st.booleans())
@EXAMPLES
def test_iterable_rows_and_tables_resume_after_the_items_sent(
    batch_size: int, share: float, factory: bool
) -> None:
    """Row dicts grouped into batches, and tables longer than a batch (restored mid-table)."""
    items: list[Any] = []
    for i in range(30):
        if i % 3 == 2:
            items.append(pa.table({"n": list(range(1_000 * i, 1_000 * i + 75)), "t": ["tab"] * 75}))
        else:
            items.extend({"n": 1_000 * i + k, "t": "row"} for k in range(12))
    schema = pa.schema([("n", pa.int64()), ("t", pa.string())])

    def make() -> sl.Stream:
        source = (lambda: iter(items)) if factory else items
        return sl.from_iterable(source, schema=schema).select("n")

    rows = [
        r for item in items for r in (item.to_pylist() if isinstance(item, pa.Table) else [item])
    ]
    expected = duckdb_table("SELECT n FROM t", t=pa.Table.from_pylist(rows, schema))
    before, after = stopped_and_restored(make, batch_size, int(share * expected.num_rows))
    assert_each_row_once(before, after, expected)


def test_a_one_shot_iterator_runs_with_checkpoints_but_cannot_be_restored(tmp_path: Path) -> None:
    def rows() -> Iterator[dict[str, int]]:
        yield from ({"n": n} for n in range(5_000))

    released = Run(sl.from_iterable(rows()), tmp_path, 100, None).until_checkpoint(1_000)
    assert [r["n"] for b in released for r in b.to_pylist()] == list(range(len(released) * 100))
    fresh = Run(sl.from_iterable(rows()), tmp_path / "fresh", 100, None).rest()
    assert sum(b.num_rows for b in fresh) == 5_000
    restored = Run(sl.from_iterable(rows()), tmp_path, 100, restore=1)
    with pytest.raises(sl.SourceError, match="one-shot iterator") as raised:
        restored.rest()
    assert "pass a list or a function returning a new iterator to from_iterable" in str(
        raised.value
    )


# -- several tasks, each reading a split of the source --------------------------------------


class SplitRun:
    """The tasks of a one-stage job, each on its split of the source, read in turns as
    agents would run them; a checkpoint is asked of all at once."""

    def __init__(
        self,
        stream: sl.Stream,
        partitions: int,
        directory: Path,
        batch_size: int,
        restore: int | None,
    ) -> None:
        plan = plan_stages(stream.optimize().graph, partitions)
        (stage,) = plan.stages
        assert stage.partitions == partitions
        self.checkpoints = [
            Checkpoints(directory, f"{stage.stage_id}.{p}", restore) for p in range(partitions)
        ]
        self.out: list[list[pa.RecordBatch]] = [[] for _ in range(partitions)]
        self.barrier_after: dict[int, int] = {}  # task -> batches out before the barrier
        self.tasks = [
            run_task(
                stage,
                p,
                plan.exchanges,
                _no_exchange,
                _no_exchange,
                config(batch_size),
                self.checkpoints[p],
                partial(self._passed, p),
            )
            for p in range(partitions)
        ]

    def _passed(self, task: int, checkpoint: int) -> None:
        self.barrier_after[task] = len(self.out[task])

    def until_checkpoint(self, ask_at: int) -> list[pa.RecordBatch]:
        """Ask every task for a checkpoint once ``ask_at`` rows came out of them all, read
        each until its barrier passed or it ended (then it is marked finished in the
        checkpoint, as the JobManager does), and stop: the rows released."""
        running, rows, asked = dict(enumerate(self.tasks)), 0, False
        while running:
            for task, items in list(running.items()):
                if asked and task in self.barrier_after:
                    del running[task]
                    continue
                batch = next(items, None)
                if batch is None:
                    del running[task]
                    continue
                self.out[task].append(batch)
                rows += batch.num_rows
                if rows >= ask_at and not asked:
                    for checkpoints in self.checkpoints:
                        checkpoints.request()
                    asked = True
        assert asked
        released = []
        for task, items in enumerate(self.tasks):
            items.close()  # type: ignore[attr-defined]
            if task in self.barrier_after:
                released += self.out[task][: self.barrier_after[task]]
            else:
                self.checkpoints[task].mark_finished(1)
                released += self.out[task]
        return released

    def rest(self) -> list[pa.RecordBatch]:
        return [batch for items in self.tasks for batch in items]


def _no_exchange(*args: Any) -> Any:
    raise AssertionError("a one-stage job reads and writes no exchange")


def split_and_restored(
    make: Callable[[], sl.Stream], partitions: int, batch_size: int, ask_at: int
) -> pa.Table:
    with tempfile.TemporaryDirectory() as directory:
        first = SplitRun(make(), partitions, Path(directory), batch_size, None)
        before = first.until_checkpoint(ask_at)
        after = SplitRun(make(), partitions, Path(directory), batch_size, 1).rest()
    return pa.Table.from_batches(before + after, make().schema)


@given(
    partitions=st.integers(2, 4),
    batch_size=st.integers(64, 700),
    share=st.floats(0.0, 0.4),
    low=st.integers(0, 4_000),
)
@EXAMPLES
def test_parquet_splits_resume_each_from_its_own_position(
    parquet_dir: Path, partitions: int, batch_size: int, share: float, low: int
) -> None:
    def make() -> sl.Stream:
        return sl.from_parquet(parquet_dir).filter(sl.col("id") >= low).select("id", "s")

    expected = duckdb_table(
        f"SELECT id, s FROM read_parquet('{parquet_dir}/*.parquet') WHERE id >= {low}"
    )
    rows = split_and_restored(make, partitions, batch_size, int(share * expected.num_rows))
    assert_same_rows(rows, expected)


@given(partitions=st.integers(2, 4), batch_size=st.integers(32, 600), share=st.floats(0.0, 0.4))
@EXAMPLES
def test_csv_file_splits_of_a_glob_resume_each_from_its_own_position(
    tmp_path_factory: pytest.TempPathFactory, partitions: int, batch_size: int, share: float
) -> None:
    directory = tmp_path_factory.mktemp("csv_splits")
    for f in range(5):
        ids = list(range(f * 900, (f + 1) * 900))
        pcsv.write_csv(pa.table({"id": ids, "k": [i % 7 for i in ids]}), directory / f"{f}.csv")

    def make() -> sl.Stream:
        return sl.from_csv(f"{directory}/*.csv").filter(sl.col("k") > 0).select("id")

    expected = duckdb_table(f"SELECT id FROM read_csv('{directory}/*.csv') WHERE k > 0")
    rows = split_and_restored(make, partitions, batch_size, int(share * expected.num_rows))
    assert_same_rows(rows, expected)


@given(partitions=st.integers(2, 5), batch_size=st.integers(16, 400), share=st.floats(0.0, 0.4))
@EXAMPLES
def test_arrow_splits_resume_each_from_its_own_position(
    partitions: int, batch_size: int, share: float
) -> None:
    table = pa.table({"x": range(6_000), "y": [i % 5 for i in range(6_000)]})

    def make() -> sl.Stream:
        return sl.from_arrow(table).filter(sl.col("y") > 0).select("x")

    expected = duckdb_table("SELECT x FROM t WHERE y > 0", t=table)
    rows = split_and_restored(make, partitions, batch_size, int(share * expected.num_rows))
    assert_same_rows(rows, expected)


# -- on a cluster ---------------------------------------------------------------------------


def test_a_parquet_job_whose_agent_dies_after_a_checkpoint_gives_duckdbs_rows(
    tmp_path: Path,
) -> None:
    """Eight files of 12 row groups on 2 tasks, each row group a batch that a UDF holds for
    60 ms (about 3 s per task); an agent running the job is killed after the first complete
    checkpoint, and the next attempt reads on from the checkpoint's file positions."""
    data = tmp_path / "data"
    data.mkdir()
    for f in range(8):
        ids = list(range(f * 6_000, (f + 1) * 6_000))
        table = pa.table({"id": ids, "k": [i % 13 for i in ids], "v": [i % 1_000 for i in ids]})
        pq.write_table(table, data / f"{f:02d}.parquet", row_group_size=500)

    def slow(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(0.06)
        return batch

    schema = pq.read_schema(data / "00.parquet")
    stream = (
        sl.from_parquet(data)
        .filter(sl.col("v") >= 100)
        .map_batches(slow, schema=schema)
        .with_columns(w=sl.col("v") * 2)
        .select("id", "k", "w")
    )
    with sl.LocalCluster(
        agents=2,
        slots=4,
        workdir=tmp_path / "cluster",
        heartbeat_timeout=2,
        heartbeat_interval=0.2,
    ) as cluster:
        job = stream.submit(
            cluster, name="parquet, agent killed", partitions=2, checkpoint_interval=0.2
        )
        wait_for(lambda: any(c["state"] == "COMPLETE" for c in job.checkpoints()), timeout=60)
        assert job.status() == "RUNNING"
        kill_an_agent_running(job, cluster)
        result = job.result(timeout=120)
        metrics = job.metrics()
    assert metrics["attempts"] == 2
    assert metrics["checkpoints"]["completed"] >= 1
    expected = duckdb_table(
        f"SELECT id, k, v * 2 AS w FROM read_parquet('{data}/*.parquet') WHERE v >= 100"
    )
    assert_same_rows(result, expected)
