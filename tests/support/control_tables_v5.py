"""The JobManager's tables as schema version 5 wrote them (before the control-plane names,
timestamps and PostgreSQL schema of version 6), kept to build old databases that the
migration tests upgrade: ``name``, ``state``, ``agent`` and ``uri`` columns, times as float
seconds, everything in PostgreSQL's ``public`` schema.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["agents", "checkpoints", "jobs", "metadata", "old_database", "schema_version", "tasks"]

metadata = sa.MetaData()

schema_version = sa.Table(
    "sabot_schema_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("physical", sa.Text),
    sa.Column("partitions", sa.Integer),
    sa.Column("planned_tasks", sa.Integer),
    sa.Column("bounded", sa.Boolean),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
)
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("task_id", sa.String(128), primary_key=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.job_id"), nullable=False, index=True),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("agent", sa.String(200)),
    sa.Column("error", sa.Text),
    sa.Column("rows_in", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_out", sa.BigInteger, nullable=False, default=0),
    sa.Column("batches_out", sa.BigInteger, nullable=False, default=0),
    sa.Column("bytes_out", sa.BigInteger, nullable=False, default=0),
    sa.Column("busy_s", sa.Float, nullable=False, default=0.0),
    sa.Column("backpressure_s", sa.Float, nullable=False, default=0.0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("operators", sa.JSON),
)
agents = sa.Table(
    "agents",
    metadata,
    sa.Column("uri", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("memory_bytes", sa.BigInteger),
    sa.Column("running", sa.Integer, nullable=False, default=0),
    sa.Column("registered_at", sa.Float, nullable=False),
    sa.Column("last_heartbeat", sa.Float, nullable=False),
)
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.job_id"), primary_key=True),
    sa.Column("checkpoint_id", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("location", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("completed_at", sa.Float),
    sa.Column("bytes", sa.BigInteger),
)


def old_database(url: str, version: int = 5, *changes: str) -> sa.Engine:
    """The tables of version 5 made in the database at ``url`` (a SQLAlchemy URL), altered
    by the SQL statements ``changes`` (to make an earlier version's), at ``version``."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.create_all(conn)
        for change in changes:
            conn.execute(sa.text(change))
        conn.execute(schema_version.insert().values(version=version))
    return engine
