"""The JobManager's control-plane tables (``jobs``, ``tasks``, ``agents``, ``checkpoints``) as
SQL sees them, the same on SQLite and PostgreSQL.

Columns carry the names of the design's control-plane schema (``jobs.job_name``,
``jobs.status``, ``tasks.agent_id``, ``agents.host``, ...) and times are SQL timestamps with
time zone (UTC on SQLite, which has no zones), so monitoring queries read them as written.
In Python each column goes by its key, the name the JobManager and its clients use
(``name``, ``state``, ``agent``, ``uri``, ...), and times are seconds since the epoch:
:func:`keyed` selects a table's columns under their keys. On PostgreSQL the tables live in a
schema of their own (``Config.database_schema``), set per engine by
:func:`for_schema`.

This module imports SQLAlchemy and, of sabot_lab, only :mod:`sabot_lab.config`.

>>> import sqlalchemy as sa
>>> engine = sa.create_engine("sqlite://")
>>> metadata.create_all(engine)
>>> with engine.begin() as conn:
...     _ = conn.execute(jobs.insert().values(job_id="j1", name="q", state="RUNNING",
...                                           created_at=0.0, updated_at=0.5))
...     dict(conn.execute(sa.select(*keyed(jobs, "name", "created_at"))).one()._mapping)
{'name': 'q', 'created_at': 0.0}
>>> with engine.connect() as conn:
...     conn.execute(sa.text("SELECT job_name, status, created_at FROM jobs")).one()
('q', 'RUNNING', '1970-01-01 00:00:00.000000')
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from sabot_lab.config import check_schema_name

__all__ = [
    "ALL_TABLES",
    "CONTROL_TABLES",
    "EpochTime",
    "agent_address",
    "agents",
    "checkpoints",
    "for_schema",
    "jobs",
    "keyed",
    "leader_lease",
    "metadata",
    "schema_version",
    "task_logs",
    "tasks",
]


class EpochTime(sa.types.TypeDecorator[float]):
    """A timestamp with time zone in the database, seconds since the epoch (a float) in
    Python; SQLite keeps it as UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``, ordered as times).

    >>> EpochTime().process_bind_param(1.5, None)
    datetime.datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=datetime.timezone.utc)
    >>> EpochTime().process_result_value(datetime(1970, 1, 1, 0, 0, 2), None)
    2.0
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        """A time (seconds, or a datetime) as a UTC datetime."""
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromtimestamp(value, timezone.utc)

    def process_result_value(self, value: Any, dialect: Any) -> float | None:
        """A stored time (naive: UTC) as seconds since the epoch."""
        if value is None:
            return None
        return float((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())


def _column(name: str, kind: Any, *args: Any, key: str | None = None, **kw: Any) -> sa.Column[Any]:
    """Column ``name`` of SQL, ``key`` in Python (default: its name)."""
    return sa.Column(name, kind, *args, key=key or name, **kw)


metadata = sa.MetaData()

schema_version = sa.Table(
    "sabot_schema_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)
jobs = sa.Table(
    "jobs",
    metadata,
    _column("job_id", sa.String(64), primary_key=True),
    _column("job_name", sa.String(200), key="name", nullable=False),
    _column("status", sa.String(16), key="state", nullable=False),
    _column("physical", sa.Text),  # the physical plan, while the job runs
    _column("partitions", sa.Integer),
    _column("planned_tasks", sa.Integer),  # tasks an attempt runs, once planned
    _column("bounded", sa.Boolean),  # whether its sources end, once planned
    _column("error", sa.Text),
    _column("created_at", EpochTime, nullable=False),
    _column("updated_at", EpochTime, nullable=False),
    _column("completed_at", EpochTime, key="finished_at"),  # when it ended
)
tasks = sa.Table(
    "tasks",
    metadata,
    _column("task_id", sa.String(128), primary_key=True),
    _column("job_id", sa.String(64), sa.ForeignKey("jobs.job_id"), nullable=False, index=True),
    _column("operator_id", sa.String(200)),  # the last operator of its stage
    _column("agent_id", sa.String(200), key="agent"),  # the agent it was placed on
    _column("status", sa.String(16), key="state", nullable=False),
    _column("stage", sa.Integer, nullable=False),
    _column("partition", sa.Integer, nullable=False),
    _column("attempt", sa.Integer, nullable=False),
    _column("error", sa.Text),
    _column("rows_in", sa.BigInteger, nullable=False, default=0),
    _column("rows_out", sa.BigInteger, nullable=False, default=0),
    _column("batches_out", sa.BigInteger, nullable=False, default=0),
    _column("bytes_out", sa.BigInteger, nullable=False, default=0),
    _column("busy_s", sa.Float, nullable=False, default=0.0),
    _column("backpressure_s", sa.Float, nullable=False, default=0.0),
    _column("started_at", EpochTime, key="created_at", nullable=False),  # deployed to its agent
    _column("updated_at", EpochTime, nullable=False),
    _column("completed_at", EpochTime),  # when it ended
    _column("operators", sa.JSON),  # rows out by operator id, as last reported
    _column("operator_seconds", sa.JSON),  # seconds making them, by operator id
    _column("state_bytes", sa.BigInteger),  # its part of its last checkpoint
    _column("watermark", sa.BigInteger),  # its last watermark (microseconds)
)
tasks_by_state = sa.Index("ix_tasks_status", tasks.c.state)
"""Finds the tasks not ended among those of every job the table still holds (placement
counts them at each stage)."""
agents = sa.Table(
    "agents",
    metadata,
    _column("agent_id", sa.String(200), key="uri", primary_key=True),  # its Flight URI
    _column("host", sa.String(200)),
    _column("port", sa.Integer),
    _column("status", sa.String(16), key="state", nullable=False),
    _column("slots", sa.Integer, nullable=False),
    _column("memory_bytes", sa.BigInteger),
    _column("running", sa.Integer, nullable=False, default=0),
    _column("registered_at", EpochTime, nullable=False),
    _column("last_heartbeat", EpochTime, nullable=False),
)
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    _column("job_id", sa.String(64), sa.ForeignKey("jobs.job_id"), primary_key=True),
    _column("checkpoint_id", sa.Integer, primary_key=True),
    _column("status", sa.String(16), key="state", nullable=False),
    _column("location", sa.Text),
    _column("created_at", EpochTime, nullable=False),
    _column("completed_at", EpochTime),
    _column("bytes", sa.BigInteger),  # the size of its parts, once COMPLETE
)

CONTROL_TABLES = (jobs, tasks, agents, checkpoints)
"""The tables, each after those it refers to."""
task_logs = sa.Table(  # the log records of tasks, read and written by .job_logs
    "task_logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.job_id"), nullable=False, index=True),
    sa.Column("task_id", sa.String(128), nullable=False, index=True),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("agent_id", sa.String(200), nullable=False),
    sa.Column("time", sa.Float, nullable=False),  # seconds since the epoch
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("logger", sa.String(200)),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
)
ALL_TABLES = (*CONTROL_TABLES, task_logs)
"""Every table of the JobManager's, each after those it refers to."""
leader_lease = sa.Table(  # which JobManager leads, read and written by .lease (PostgreSQL)
    "leader_lease",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),  # the leader's DBOS executor id
    sa.Column("address", sa.String(400), nullable=False),  # its Flight URI
    sa.Column("epoch", sa.BigInteger, nullable=False),  # +1 at each takeover
    sa.Column("expires_at", EpochTime, nullable=False),  # the database's time
    sa.Column("acquired_at", EpochTime),
)


def agent_address(uri: str) -> tuple[str | None, int | None]:
    """The host and port of an agent's URI (its ``agent_id``).

    >>> agent_address("grpc+tls://worker-3:8815")
    ('worker-3', 8815)
    """
    address = urlsplit(uri)
    return address.hostname, address.port


def keyed(table: sa.Table, *only: str) -> list[sa.Label[Any]]:
    """The columns of ``table`` (or those keyed ``only``) labelled with their keys, for a
    select whose rows read as the JobManager names them.

    >>> [c.name for c in keyed(agents, "uri", "state")]
    ['uri', 'state']
    """
    return [c.label(c.key) for c in table.c if not only or c.key in only]


def for_schema(engine: sa.Engine, schema: str) -> tuple[sa.Engine, str | None]:
    """``engine`` reading and writing the tables in ``schema`` on PostgreSQL (SQLite: as it
    is), and the schema it uses (None on SQLite).

    >>> for_schema(sa.create_engine("sqlite://"), "sabot")[1] is None
    True
    """
    if engine.dialect.name == "sqlite":
        return engine, None
    translated = engine.execution_options(schema_translate_map={None: check_schema_name(schema)})
    return translated, schema
