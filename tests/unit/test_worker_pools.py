"""Pipelines run on worker threads kept between runs: a second query starts no thread, a
pipeline nested in another's step runs on workers of its own (no wait for the outer
pipeline's), a pipeline stopped early or failing leaves no batch of its own running
when the next one borrows its workers, and a dropped pipeline closed by the garbage
collector on one of its own workers does not wait for that worker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.config import Config
from sabot_lab.engine.pipeline import ordered_parallel_map
from sabot_lab.engine.worker_pools import borrowed_pool
from sabot_lab.errors import ComputeError


def _workers() -> set[int]:
    return {t.ident or 0 for t in threading.enumerate() if t.name.startswith("sabot-worker")}


def test_a_second_query_runs_on_the_first_ones_workers() -> None:
    table = pa.table({"k": [i % 7 for i in range(20_000)], "v": list(range(20_000))})
    query = sl.from_arrow(table).filter(sl.col("v") % 3 == 0).group_by("k").agg(sl.col("v").sum())
    first = query.collect()
    before = _workers()
    assert before
    again = query.collect()
    assert _workers() == before
    assert again.sort_by("k").equals(first.sort_by("k"))
    expected = {k: sum(v for v in range(20_000) if v % 3 == 0 and v % 7 == k) for k in range(7)}
    assert dict(zip(*first.sort_by("k").to_pydict().values(), strict=True)) == expected


def test_a_nested_pipeline_borrows_other_workers() -> None:
    config = Config(threads=2)

    def inner_sum(n: int) -> int:  # runs on an outer worker, maps on workers of its own
        return sum(ordered_parallel_map(lambda x: x * n, iter(range(50)), config))

    assert list(ordered_parallel_map(inner_sum, iter(range(6)), config)) == [
        n * 1225 for n in range(6)
    ]


def test_a_stopped_or_failed_pipeline_leaves_its_workers_idle() -> None:
    config = Config(threads=2, max_in_flight=2)
    started: list[int] = []

    def record(x: int) -> int:
        started.append(x)
        if x == 40:
            raise ComputeError("batch 40 is bad")
        return x

    taken = ordered_parallel_map(record, iter(range(100)), config)
    assert [next(taken) for _ in range(5)] == [0, 1, 2, 3, 4]
    taken.close()
    assert len(started) <= 5 + 2 * 2  # the look-ahead at most; the rest never started
    with pytest.raises(ComputeError, match="batch 40"):
        list(ordered_parallel_map(record, iter(range(100)), config))
    ran = len(started)
    with borrowed_pool(2) as pool:  # the same workers: what was dropped stays dropped
        assert pool.submit(lambda: 7).result() == 7
    assert len(started) == ran


_CLOSED_ON_ITS_WORKER = """
import gc, os, threading
from sabot_lab.config import Config
from sabot_lab.engine.pipeline import ordered_parallel_map
from sabot_lab.engine.worker_pools import borrowed_pool

gc.disable()  # the pipeline is collected below, on its worker, and nowhere else
dropped, collected = threading.Event(), threading.Event()

def batch(x):
    if x == 1:  # in flight when the pipeline is dropped
        dropped.wait()
        gc.collect()  # closes the dropped pipeline on this worker
        collected.set()
    return x

taken = ordered_parallel_map(batch, iter(range(10)), Config(threads=2, max_in_flight=1))
assert next(taken) == 0
cycle = [taken]
cycle.append(cycle)  # kept alive by a reference cycle only
del taken, cycle
dropped.set()
if not collected.wait(30):
    print("the dropped pipeline waits for its own worker", flush=True)
    os._exit(1)  # that worker never ends: the interpreter would wait for it at exit
with borrowed_pool(2) as pool:  # the busy pool was not kept: this one runs at once
    print(pool.submit(sum, [3, 4]).result(), flush=True)
"""


@pytest.mark.slow  # starts a Python process (a failure leaves a worker that never ends)
def test_a_dropped_pipeline_closed_on_its_own_worker_does_not_wait_for_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CLOSED_ON_ITS_WORKER],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "7"), done.stdout + done.stderr
