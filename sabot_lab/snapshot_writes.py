"""``Stream.to_parquet(path, mode=...)`` for the modes beyond appending rows: ``"snapshot"``
writes the current row of each key of an upsert changelog (see
:mod:`sabot_lab.logical.changelogs`) as one Parquet file, replaced whole; an upsert changelog
written with ``mode="append"`` is refused (every update would be a row of the file).

May import: the plan's changelog rules, the connectors' snapshot writing, the errors; the
stream only as a type.

>>> import sabot_lab as sl, tempfile, os, pyarrow.parquet as pq
>>> totals = sl.nexmark(events=None).bids.head(100).group_by("auction").agg(n=sl.count())
>>> path = os.path.join(tempfile.mkdtemp(), "totals.parquet")
>>> totals.to_parquet(path, mode="snapshot") == pq.read_table(path).num_rows
True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sabot_lab.connectors.changelog_sinks import refuse_updates
from sabot_lab.connectors.parquet_snapshot import write_snapshot
from sabot_lab.errors import PlanError
from sabot_lab.logical.changelogs import changelog_key

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = ["PARQUET_MODES", "write_changelog"]

PARQUET_MODES = ("append", "snapshot")
"""What ``to_parquet(mode=...)`` takes."""


def write_changelog(
    stream: Stream,
    path: str | os.PathLike[str],
    mode: str,
    compression: str = "zstd",
    partition_by: str | Sequence[str] | None = None,
    optimize: bool = True,
) -> int:
    """Write ``stream`` (bounded) to ``path`` in ``mode``, when it is not an append stream
    appended: the snapshot of an upsert changelog; the number of rows written. Refused with
    :class:`PlanError` when the mode does not fit the stream.

    >>> import sabot_lab as sl
    >>> write_changelog(sl.from_pydict({"x": [1]}), "/tmp/x.parquet", "snapshot")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: to_parquet(mode='snapshot') keeps the last row of each key of an upsert changelog, and this stream is append-only (every row is final): write it with mode='append'
    """
    if mode not in PARQUET_MODES:
        raise PlanError(f"to_parquet(mode=...) takes one of {PARQUET_MODES}, got {mode!r}")
    if mode == "append":
        refuse_updates(stream.graph, stream.node_id, "to_parquet()")
    key = changelog_key(stream.graph, stream.node_id)
    if key is None:
        raise PlanError(
            "to_parquet(mode='snapshot') keeps the last row of each key of an upsert "
            "changelog, and this stream is append-only (every row is final): write it with "
            "mode='append'"
        )
    if partition_by is not None:
        raise PlanError("to_parquet(mode='snapshot') writes one file: leave out partition_by")
    return write_snapshot(stream.iter_batches(optimize), stream.schema, path, key, compression)
