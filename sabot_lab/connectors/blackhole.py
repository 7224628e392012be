"""``BlackholeSink``: a job's rows, committed and dropped (Flink's ``'connector' =
'blackhole'``): the job runs its whole pipeline and keeps nothing, as a benchmark wants.

May import: :mod:`sabot_lab.connectors.sink`.

>>> import pyarrow as pa
>>> BlackholeSink().commit(pa.table({"x": [1]}), "job-1", 0)
True
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from sabot_lab.connectors.sink import CommitSink, register_sink

__all__ = ["BlackholeSink"]


@register_sink
class BlackholeSink(CommitSink):
    """Rows committed to nowhere.

    >>> BlackholeSink.from_dict(BlackholeSink().to_dict()).to_dict()
    {'kind': 'blackhole'}
    """

    kind = "blackhole"

    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Drop ``rows``; True (there is nothing to write twice)."""
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlackholeSink:
        return cls()
