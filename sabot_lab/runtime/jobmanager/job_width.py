"""How many tasks a stage of a job runs as when its submitter did not say (``partitions``).

A bounded job is as wide as the cluster's slots allow, but no wider than its input needs: each
task gets at least ``task_rows`` of the rows its largest operator is estimated to output, so a
job over a few hundred rows runs as one task instead of fanning out over every agent (a task
costs a deploy, a task row and a result fetch whatever its rows). An unbounded job, whose rows
are not known, keeps the full width.

May import ``logical``, ``physical``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["input_width"]


def input_width(widest: int, estimated_rows: Mapping[str, float], task_rows: int) -> int:
    """``widest`` tasks, fewer when the most rows any operator is estimated to output
    (``estimated_rows``, by operator id) give each task fewer than ``task_rows``; at least 1.

    >>> input_width(50, {"source": 100.0, "filter": 33.0}, task_rows=1000)
    1
    >>> input_width(50, {"source": 2_500.0}, task_rows=1000)
    3
    >>> input_width(4, {"source": 60_000.0}, task_rows=1000), input_width(4, {}, task_rows=1000)
    (4, 1)
    """
    rows = max(estimated_rows.values(), default=0.0)
    return max(1, min(widest, math.ceil(rows / task_rows)))
