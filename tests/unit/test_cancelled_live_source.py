"""A cancelled task stops while its live source has nothing new to read: the source's every
poll sees the cancel, so the task's thread (on an agent, its task slot) comes free. Before,
only a batch passing an operator saw it, and a cancelled job's source read to the end of its
topic polled on for ever, holding a slot that the JobManager counted as free."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.engine import Executor
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.operator_rows import OperatorRows
from tests.support.polling import wait_for

NOTHING_NEW = pa.table({"x": pa.array([], pa.int64())})


class Cancelled(Exception):
    """What the run's check raises once the run is cancelled (an agent's task raises its own)."""


@pytest.mark.parametrize("checkpoints", [False, True], ids=["plain", "with checkpoints"])
def test_a_cancel_stops_a_live_source_that_has_nothing_new(
    tmp_path: Path, checkpoints: bool
) -> None:
    polls: list[int] = []

    def live(i: int) -> Any:  # one row, then nothing new at every poll
        polls.append(i)
        return {"x": [7]} if i == 0 else NOTHING_NEW

    stream = sl.from_generator(live)
    cancel = threading.Event()

    def check() -> None:
        if cancel.is_set():
            raise Cancelled

    executor = Executor(
        stream.graph,
        checkpoints=Checkpoints(tmp_path) if checkpoints else None,
        rows=OperatorRows(check),
    )
    rows: list[int] = []
    outcome: list[str] = []

    def run() -> None:
        try:
            for item in executor.run(stream.node_id):
                rows.extend(item.column("x").to_pylist())
            outcome.append("ended")
        except Cancelled:
            outcome.append("cancelled")

    thread = threading.Thread(target=run, daemon=True)  # (without the fix it never ends)
    thread.start()
    wait_for(lambda: rows == [7] and len(polls) > 100)  # read, then polling on with nothing
    cancel.set()
    wait_for(lambda: not thread.is_alive(), timeout=10)
    assert outcome == ["cancelled"]
    assert rows == [7]
