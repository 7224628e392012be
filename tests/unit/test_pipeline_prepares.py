"""A pipeline's steps prepare (a join builds its hash table) while its source starts, on
threads of their own, so a join's build side and its probe input are read at the same time;
a failing build raises its own error before any batch, and one thread runs everything in
order."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from sabot_lab.config import Config
from sabot_lab.engine.pipeline import Pipeline, Step
from sabot_lab.errors import ComputeError

BATCHES = [pa.record_batch({"x": [i, i + 1]}) for i in range(0, 6, 2)]


def _source(started: threading.Event) -> Iterator[pa.RecordBatch]:
    started.set()
    yield from BATCHES


def test_the_build_runs_while_the_probe_input_starts() -> None:
    started, built = threading.Event(), threading.Event()

    def prepare() -> None:  # waits for the source: a prepare run before it would fail
        if not started.wait(timeout=60):
            raise AssertionError("the source did not start while the build ran")
        built.set()

    def probe(batch: pa.RecordBatch) -> pa.RecordBatch:
        assert built.is_set(), "a batch was probed before the build ended"
        return batch

    pipeline = Pipeline(lambda: _source(started), (Step("join", probe, prepare),))
    out = list(pipeline.run(Config(threads=2)))
    assert pa.Table.from_batches(out).equals(pa.Table.from_batches(BATCHES))


def test_a_failing_build_raises_before_any_batch() -> None:
    def prepare() -> None:
        raise ComputeError("the build side failed")

    pipeline = Pipeline(lambda: iter(BATCHES), (Step("join", lambda b: b, prepare),))
    out = pipeline.run(Config(threads=2))
    with pytest.raises(ComputeError, match="the build side failed"):
        next(out)


def test_one_thread_builds_before_the_source_starts() -> None:
    started = threading.Event()
    order: list[str] = []

    def prepare() -> None:
        order.append("started" if started.is_set() else "built")

    pipeline = Pipeline(lambda: _source(started), (Step("join", lambda b: b, prepare),))
    assert len(list(pipeline.run(Config(threads=1)))) == len(BATCHES)
    assert order == ["built"]
