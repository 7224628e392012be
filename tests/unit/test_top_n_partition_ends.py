"""A top-N whose partitions end at a time (an auction's ``expires``): each partition's rows
come once the watermark passes its end (a row at the end itself may still come), and the
watermark out waits for the event time of the rows still held."""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.engine.items import Watermark
from sabot_lab.engine.state import open_state
from sabot_lab.engine.top_n import TopN
from sabot_lab.expr.windows import row_number

SECOND = 1_000_000
ROWS = pa.schema(
    [("k", pa.int64()), ("x", pa.int64()), ("t", pa.timestamp("s")), ("end", pa.timestamp("s"))]
)


def _top() -> TopN:
    rank = row_number().over("k", order_by="x", descending=True).alias("rn")
    out = pa.schema([ROWS.field("k"), ROWS.field("x"), ROWS.field("t"), pa.field("rn", pa.int64())])
    return TopN(rank, 1, ROWS, out, open_state(), ends_at=("end", "t"))


def _watermark(top: TopN, seconds: int) -> tuple[list[dict[str, object]], int]:
    items = list(top.on_watermark(Watermark(seconds * SECOND)))
    (out,) = [i for i in items if isinstance(i, Watermark)]
    rows = [r for i in items if isinstance(i, pa.Table) for r in i.to_pylist()]
    return [{"k": r["k"], "x": r["x"]} for r in rows], out.time // SECOND


def test_partitions_come_once_their_end_is_passed_and_the_watermark_waits_for_them() -> None:
    top = _top()
    batch = {"k": [1, 1, 2], "x": [5, 9, 3], "t": [1, 2, 3], "end": [10, 10, 20]}
    assert top.on_batch(pa.record_batch(batch, schema=ROWS)) == []
    assert _watermark(top, 5) == ([], 2)  # held back to the earliest time of the best rows
    assert _watermark(top, 10) == ([], 2)  # a row at 10 may still come for k = 1
    later = {"k": [1, 2], "x": [11, 1], "t": [10, 12], "end": [10, 20]}
    assert top.on_batch(pa.record_batch(later, schema=ROWS)) == []
    assert _watermark(top, 11) == ([{"k": 1, "x": 11}], 3)
    assert _watermark(top, 21) == ([{"k": 2, "x": 3}], 21)
    assert top.state_rows == 0
