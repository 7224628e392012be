"""Where a job's committed rows go: sinks written once per checkpoint.

A :class:`CommitSink` gets a job's rows in commits: the rows of one checkpoint epoch (those
between two barriers), handed over by the JobManager once the checkpoint after them is
complete, or all the rows of a job that takes no checkpoints as commit 0. The rows were held
back until then (the first phase); the commit makes them visible at once (the second), and a
commit handed over again after a crash is recognised and skipped. So every row reaches the
sink exactly once.

>>> import sabot_lab as sl
>>> sink_from_dict(sl.ParquetSink("/tmp/out").to_dict()).location
'/tmp/out'
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import pyarrow as pa

from sabot_lab.errors import PlanError, SourceError

__all__ = ["CommitSink", "register_sink", "sink_from_dict"]

_SINKS: dict[str, type[CommitSink]] = {}


class CommitSink(abc.ABC):
    """A sink the JobManager writes a job's committed rows to (see the module)."""

    kind: ClassVar[str]
    takes_updates: ClassVar[bool] = False
    """True for a sink that applies an upsert changelog: a row replaces the earlier row with
    the same key (see :meth:`keyed`); the others append every row they get."""

    def keyed(self, key: tuple[str, ...]) -> CommitSink:
        """This sink applying an upsert changelog keyed by ``key`` (a sink with
        :attr:`takes_updates` checks or takes the key); :class:`PlanError` when it cannot."""
        raise PlanError(f"the {self.kind} sink appends rows; it cannot apply updates")

    @abc.abstractmethod
    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Make ``rows`` visible as commit ``commit`` of ``job_id``, all at once; False when
        that commit was made before (nothing is written again)."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form with ``kind`` (the JobManager keeps it with the job)."""

    @classmethod
    @abc.abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> CommitSink:
        """Inverse of :meth:`to_dict`."""


def register_sink(cls: type[CommitSink]) -> type[CommitSink]:
    """Class decorator: make a sink kind known to :func:`sink_from_dict`."""
    _SINKS[cls.kind] = cls
    return cls


def sink_from_dict(data: dict[str, Any]) -> CommitSink:
    """Rebuild a sink from its :meth:`~CommitSink.to_dict` form."""
    kind = data.get("kind")
    if kind not in _SINKS:
        raise SourceError(f"unknown sink kind {kind!r}; known kinds: {', '.join(sorted(_SINKS))}")
    return _SINKS[kind].from_dict(data)
