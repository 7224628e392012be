"""Which sinks take a stream whose rows are updates: an upsert changelog (see
:mod:`sabot_lab.logical.changelogs`) goes only to a sink that applies each row as the new value
of its key (a Parquet snapshot, PostgreSQL with that key), checked when the plan is built;
an append-only sink (Parquet, CSV or JSON files, Kafka) is refused with an error naming them.

May import: the plan (:mod:`sabot_lab.logical`), :mod:`sabot_lab.connectors.sink`,
:mod:`sabot_lab.errors`.

>>> import sabot_lab as sl
>>> totals = sl.nexmark(events=None).bids.group_by("auction").agg(n=sl.count())
>>> sink_for(totals.graph, totals.node_id, sl.ParquetSnapshotSink("/tmp/t.parquet")).key
['auction']
>>> sink_for(totals.graph, totals.node_id, sl.ParquetSink("/tmp/out"))
Traceback (most recent call last):
...
sabot_lab.errors.PlanError: the parquet sink appends rows, and this stream is an upsert changelog keyed by ['auction'] ...
"""

from __future__ import annotations

from typing import Any

from sabot_lab.connectors.sink import CommitSink, sink_from_dict
from sabot_lab.errors import PlanError
from sabot_lab.logical import JobGraph
from sabot_lab.logical.changelogs import changelog_key

__all__ = ["UPSERT_SINKS", "refuse_updates", "sink_for", "target_for"]

UPSERT_SINKS = (
    "a Parquet snapshot (to_parquet(path, mode='snapshot'), sink=sl.ParquetSnapshotSink(path); "
    "in SQL a filesystem table declaring PRIMARY KEY ({key}) NOT ENFORCED) or PostgreSQL "
    "(sl.PostgresSink(url, table, key={keys}))"
)
"""The sinks that apply updates, as the errors name them."""


def refuse_updates(graph: JobGraph, node_id: str, writer: str) -> None:
    """:class:`PlanError` when ``node_id`` outputs an upsert changelog: ``writer`` (an
    append-only writer, e.g. ``"to_csv()"``) would keep every update as a row.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1]})
    >>> refuse_updates(s.graph, s.node_id, "to_csv()")
    """
    key = changelog_key(graph, node_id)
    if key is not None:
        raise PlanError(_appends(writer, key))


def sink_for(graph: JobGraph, node_id: str, sink: CommitSink) -> CommitSink:
    """``sink`` as it takes the rows of ``node_id``: keyed by its changelog's key when they
    are updates (:class:`PlanError` when the sink appends, or has another key); as given for
    an append stream."""
    key = changelog_key(graph, node_id)
    if key is None:
        return sink
    if not sink.takes_updates:
        raise PlanError(_appends(f"the {sink.kind} sink", key))
    return sink.keyed(key)


def target_for(
    graph: JobGraph, node_id: str, target: dict[str, Any] | None
) -> dict[str, Any] | None:
    """:func:`sink_for` on a sink's JSON form (a job request's ``sink``); None stays None
    (the JobManager keeps the rows, updates as they came)."""
    if target is None:
        return None
    return sink_for(graph, node_id, sink_from_dict(target)).to_dict()


def _appends(writer: str, key: tuple[str, ...]) -> str:
    sinks = UPSERT_SINKS.format(key=", ".join(key), keys=list(key))
    return (
        f"{writer} appends rows, and this stream is an upsert changelog keyed by {list(key)} "
        "(a later row replaces the earlier row with the same key, e.g. the running result of "
        f"an aggregate over an unbounded stream): write it to {sinks}, or aggregate within "
        "windows (stream.window(...)) so that every row is final"
    )
