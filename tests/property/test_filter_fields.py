"""A filter fused with a projection reading struct fields takes the fields out before filtering:
its rows equal pyarrow's filter of the whole batch followed by the fields, struct rows and
fields null or not, the batch sliced or not."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from sabot_lab.engine.fields_filter import filter_fields
from sabot_lab.expr import col

ROWS = st.lists(
    st.tuples(
        st.integers(-5, 5),
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {"a": st.one_of(st.none(), st.integers(-100, 100)), "b": st.text("xy", max_size=3)}
            ),
        ),
    ),
    max_size=30,
)
STRUCT = pa.struct([("a", pa.int64()), ("b", pa.string())])
OUT = pa.schema([("a", pa.int64()), ("k", pa.int64()), ("b", pa.string())])


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, threshold=st.integers(-6, 6), start=st.integers(0, 3))
def test_fields_taken_before_the_filter_equal_the_filter_then_the_fields(
    rows: list[tuple[int, dict[str, object] | None]], threshold: int, start: int
) -> None:
    whole = pa.record_batch(
        [pa.array([k for k, _ in rows], pa.int64()), pa.array([s for _, s in rows], STRUCT)],
        names=["k", "s"],
    )
    batch = whole.slice(min(start, whole.num_rows))
    exprs = [
        (col("s").struct.field("a") * 2).alias("a"),
        col("k"),
        col("s").struct.field("b").alias("b"),
    ]
    got = filter_fields(batch, col("k") > threshold, exprs, OUT)
    kept = batch.filter(pc.greater(batch.column("k"), threshold))
    fields = pc.struct_field(kept.column("s"), [0]), pc.struct_field(kept.column("s"), [1])
    expected = pa.record_batch([pc.multiply(fields[0], 2), kept.column("k"), fields[1]], schema=OUT)
    if got is None:  # no row left (an empty batch stays as it is)
        assert expected.num_rows == 0
    else:
        assert got.equals(expected)
