"""A job's log records as an Arrow table (what ``Job.logs()`` returns), and the choice of
records by level.

May import :mod:`sabot_lab.config` and pyarrow.

>>> table = log_table([{"time": 0.0, "level": "error", "event": "task failed",
...                     "job_id": "j1", "task_id": "j1/0.0/0", "attempt": 0, "stage": 0}])
>>> table.column_names
['time', 'level', 'event', 'logger', 'job_id', 'task_id', 'attempt', 'agent_id', 'stage', 'error']
>>> table["time"][0].as_py().isoformat(), table["agent_id"][0].as_py()
('1970-01-01T00:00:00+00:00', None)
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from sabot_lab.config import LOG_LEVELS

__all__ = ["LOG_SCHEMA", "levels_from", "log_table", "record_line"]

LOG_SCHEMA = pa.schema(
    [
        pa.field("time", pa.timestamp("us", tz="UTC")),
        pa.field("level", pa.string()),
        pa.field("event", pa.string()),
        pa.field("logger", pa.string()),
        pa.field("job_id", pa.string()),
        pa.field("task_id", pa.string()),
        pa.field("attempt", pa.int32()),
        pa.field("agent_id", pa.string()),
        pa.field("stage", pa.int32()),
        pa.field("error", pa.string()),
    ]
)
"""The columns of a job's log records: when, how severe (``debug`` ... ``critical``), what
happened, the logger, the ids the record was bound to, and the error's text (a failed task's
message and traceback)."""


def levels_from(level: str | None) -> tuple[str, ...] | None:
    """The level names (lower case) of records at ``level`` or more severe; None for all.

    >>> levels_from("Warning")
    ('warning', 'error', 'critical')
    >>> levels_from("loud")
    Traceback (most recent call last):
    ...
    ValueError: unknown log level 'loud': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL
    """
    if level is None:
        return None
    if level.upper() not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LOG_LEVELS)}")
    return tuple(name.lower() for name in LOG_LEVELS[LOG_LEVELS.index(level.upper()) :])


def log_table(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """``records`` (dicts with the fields of :data:`LOG_SCHEMA`, ``time`` in seconds) as a
    table (see the module's example)."""
    rows = list(records)
    columns = {name: [row.get(name) for row in rows] for name in LOG_SCHEMA.names if name != "time"}
    times = [datetime.datetime.fromtimestamp(row["time"], datetime.timezone.utc) for row in rows]
    return pa.table({"time": times, **columns}, schema=LOG_SCHEMA)


def record_line(record: Mapping[str, Any]) -> str:
    """One record of a :func:`log_table` (a row of its ``to_pylist()``) as a line: its time,
    level, task (or agent) and event; its error text is left out.

    >>> record_line(log_table([{"time": 0.5, "level": "error", "event": "task failed",
    ...                         "task_id": "j1/0.0/0"}]).to_pylist()[0])
    '1970-01-01 00:00:00.500 ERROR    j1/0.0/0  task failed'
    """
    when = record["time"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    where = record.get("task_id") or record.get("agent_id") or ""
    return f"{when} {record['level'].upper():<8} {where:<9} {record['event']}"
