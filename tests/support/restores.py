"""A run that crashes after its second checkpoint and a new run restored from it, in
process: the rows the two give together, which a correct restore makes equal to one
undisturbed run's (each row once)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

import sabot_lab as sl
from sabot_lab.config import Config
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.executor import Executor
from sabot_lab.engine.items import Barrier, Watermark


def _run(
    build: Callable[[], sl.Stream], directory: Path, backend: str, restore: int | None
) -> tuple[Checkpoints, Iterator[Any]]:
    plan = build().optimize()  # built anew, as a restarted process would
    checkpoints = Checkpoints(directory, restore=restore)
    config = Config(threads=1, batch_size=64, state_backend=backend)
    return checkpoints, Executor(plan.graph, config, checkpoints).run_items(plan.output)[0]


def crash_and_restore(
    build: Callable[[], sl.Stream],
    directory: Path,
    backend: str,
    requests: tuple[int, int],
) -> tuple[pa.Table, int]:
    """Run ``build()``'s plan, asking for a checkpoint after the batches numbered
    ``requests``, and crash once the second is complete and rows came after it (they are
    lost with the process); then restore a new run from checkpoint 2. Gives the rows the
    completed checkpoints released, then the restored run's, and how many batches the
    restored run gave."""
    checkpoints, first = _run(build, directory, backend, None)
    released: list[pa.RecordBatch] = []
    pending: list[pa.RecordBatch] = []
    completed, seen = 0, 0
    for item in first:
        if isinstance(item, Barrier):
            released, pending, completed = released + pending, [], item.checkpoint
        elif not isinstance(item, Watermark):
            pending.append(item)
            seen += 1
            if seen in requests:
                checkpoints.request()
            if completed == 2 and pending:
                break
    first.close()  # type: ignore[attr-defined]
    assert completed == 2 and released and pending
    _, second = _run(build, directory, backend, 2)
    rest = [b for b in second if not isinstance(b, Barrier | Watermark)]
    return pa.Table.from_batches(released + rest), len(rest)
