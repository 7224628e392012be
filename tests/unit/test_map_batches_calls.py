"""How often ``Stream.map_batches`` calls the user's function: once on an empty batch to learn
the output schema when none is given (as the plan is built), then once per batch."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import sabot_lab as sl


@pytest.fixture
def batches_of_four() -> Iterator[None]:
    old = sl.get_config()
    sl.set_config(old.replace(batch_size=4, threads=1))
    yield
    sl.set_config(old)


def test_without_a_schema_the_function_runs_once_to_learn_it_then_once_per_batch(
    batches_of_four: None,
) -> None:
    calls: list[int] = []

    def doubled(batch: pa.RecordBatch) -> pa.RecordBatch:
        calls.append(batch.num_rows)
        return batch.append_column("y", pc.multiply(batch["x"], 2))

    stream = sl.from_pydict({"x": list(range(10))}).map_batches(doubled)
    assert calls == [0]  # the schema, from an empty batch
    assert stream.schema.names == ["x", "y"]

    out = stream.collect()
    assert out.column("y").to_pylist() == [2 * x for x in range(10)]
    assert calls == [0, 4, 4, 2]


def test_with_a_schema_the_function_runs_once_per_batch_and_never_on_an_empty_one(
    batches_of_four: None,
) -> None:
    calls: list[int] = []

    def doubled(batch: pa.RecordBatch) -> pa.RecordBatch:
        calls.append(batch.num_rows)
        return batch.append_column("y", pc.multiply(batch["x"], 2))

    stream = sl.from_pydict({"x": list(range(10))}).map_batches(
        doubled, schema={"x": "int64", "y": "int64"}
    )
    assert calls == []
    assert stream.collect().num_rows == 10
    assert calls == [4, 4, 2]
