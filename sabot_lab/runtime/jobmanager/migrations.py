"""Numbered migrations of the JobManager's tables (:mod:`.tables`): a new database gets the
newest schema; an older one, found by its ``sabot_schema_version`` row, is upgraded in one
transaction with its rows kept.

Version 6 gave the tables the design's column names (``job_name``, ``status``, ``agent_id``,
``host``, ``port``, ``completed_at``, ...), timestamps with time zone instead of seconds, and,
on PostgreSQL, a schema of their own instead of ``public``. It upgrades a database of any
earlier version (1 to 5): it copies the rows of the old tables into new ones by column,
whatever columns the old ones had, and drops the old ones. Version 7 added the task figures
``operator_seconds``, ``state_bytes`` and ``watermark``; version 8 the table of tasks' log
records, ``task_logs``; version 9 the ``leader_lease`` row of JobManagers that share one
PostgreSQL database (see :mod:`.lease`); version 10 the index of tasks by state.

This module imports SQLAlchemy, :mod:`.tables` and the protocol's states.

>>> import sqlalchemy as sa
>>> migrate(sa.create_engine("sqlite://"), None)
10
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from sabot_lab.runtime.jobmanager.tables import (
    ALL_TABLES,
    CONTROL_TABLES,
    agent_address,
    agents,
    leader_lease,
    metadata,
    schema_version,
    task_logs,
    tasks,
    tasks_by_state,
)
from sabot_lab.runtime.protocol import ENDED

__all__ = ["LATEST", "MIGRATIONS", "migrate"]

_LEGACY_SCHEMA = "public"
"""Where PostgreSQL kept the tables before version 6."""
_LOCK = 0x5AB07AB1E5
"""The PostgreSQL advisory lock JobManagers starting on one database migrate under."""


def _qualified(schema: str | None, name: str) -> str:
    return name if schema is None else f"{schema}.{name}"


def _to_control_plane_names(conn: sa.Connection, found: str | None, schema: str | None) -> None:
    """Version 6: copy the tables of an earlier version (in schema ``found``) into the
    newest tables (in ``schema``), then drop them."""
    if conn.dialect.name == "sqlite":  # set the old tables aside under other names
        for table in CONTROL_TABLES:
            conn.execute(sa.text(f"ALTER TABLE {table.name} RENAME TO {table.name}_old"))
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_tasks_job_id"))
        aside, suffix = None, "_old"
    else:  # set them aside in a schema of their own
        aside, suffix = f"{schema}_old", ""
        conn.execute(sa.text(f"CREATE SCHEMA {aside}"))
        for table in CONTROL_TABLES:
            conn.execute(sa.text(f"ALTER TABLE {found}.{table.name} SET SCHEMA {aside}"))
        if found != schema:
            conn.execute(sa.text(f"DROP TABLE {found}.{schema_version.name}"))
    metadata.create_all(conn, tables=list(CONTROL_TABLES))
    for table in CONTROL_TABLES:
        old = sa.Table(f"{table.name}{suffix}", sa.MetaData(), schema=aside, autoload_with=conn)
        rows = [_upgraded(table, dict(r)) for r in conn.execute(sa.select(old)).mappings()]
        if rows:
            conn.execute(table.insert(), rows)
    if aside is None:
        for table in reversed(CONTROL_TABLES):  # those that refer to others first
            conn.execute(sa.text(f"DROP TABLE {table.name}_old"))
    else:
        conn.execute(sa.text(f"DROP SCHEMA {aside} CASCADE"))


def _upgraded(table: sa.Table, row: dict[str, object]) -> dict[str, object]:
    """An old row of ``table`` (its columns were named as the new keys, its times seconds)
    as values of the new one, with what the old one did not record derived where it can be.

    >>> _upgraded(agents, {"uri": "grpc://10.0.0.7:8815", "state": "ACTIVE", "plan": "{}"})
    {'uri': 'grpc://10.0.0.7:8815', 'state': 'ACTIVE', 'host': '10.0.0.7', 'port': 8815}
    """
    values = {c.key: row[c.key] for c in table.c if c.key in row}
    if table is agents:
        values["host"], values["port"] = agent_address(str(row["uri"]))
    if table is tasks:  # (every row gets the same columns: they are inserted together)
        values["completed_at"] = row["updated_at"] if row["state"] in ENDED else None
    return values


def _add_task_figures(conn: sa.Connection, found: str | None, schema: str | None) -> None:
    """Version 7: the task figures ``operator_seconds``, ``state_bytes`` and ``watermark``
    (a database that version 6 just made has them already)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(tasks.name, schema=schema)}
    for name in ("operator_seconds", "state_bytes", "watermark"):
        if name not in have:
            kind = tasks.c[name].type.compile(dialect=conn.dialect)
            table = _qualified(schema, tasks.name)
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))


def _add_task_logs(conn: sa.Connection, found: str | None, schema: str | None) -> None:
    """Version 8: the table of tasks' log records."""
    metadata.create_all(conn, tables=[task_logs])


def _add_leader_lease(conn: sa.Connection, found: str | None, schema: str | None) -> None:
    """Version 9: the lease row of the leading JobManager."""
    metadata.create_all(conn, tables=[leader_lease])


def _add_task_state_index(conn: sa.Connection, found: str | None, schema: str | None) -> None:
    """Version 10: the index of tasks by state (a database that version 6 just made has
    it already)."""
    tasks_by_state.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[sa.Connection, str | None, str | None], None]] = {
    6: _to_control_plane_names,
    7: _add_task_figures,
    8: _add_task_logs,
    9: _add_leader_lease,
    10: _add_task_state_index,
}
"""Each migration by the version it makes: it takes a database of any earlier version (its
tables in the schema it is given first) to its own, its tables in the schema given second."""
LATEST = max(MIGRATIONS)


def migrate(engine: sa.Engine, schema: str | None) -> int:
    """Bring the database to the newest schema version (on PostgreSQL in ``schema``, which
    ``engine`` is set to translate to, see :func:`~.tables.for_schema`); return it."""
    with engine.begin() as conn:
        if schema is not None:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        found, version = _version(conn, schema)
        if version == 0:  # a new database
            metadata.create_all(conn, tables=[schema_version, *ALL_TABLES, leader_lease])
            conn.execute(schema_version.insert().values(version=LATEST))
            return LATEST
        for number, step in sorted(MIGRATIONS.items()):
            if number > version:
                step(conn, found, schema)
        if version < LATEST:
            metadata.create_all(conn, tables=[schema_version])
            conn.execute(schema_version.delete())
            conn.execute(schema_version.insert().values(version=LATEST))
    return LATEST


def _version(conn: sa.Connection, schema: str | None) -> tuple[str | None, int]:
    """The schema holding the version table (``schema``, else where versions before 6 kept
    it) and the version it records; 0 for a database without one."""
    inspector = sa.inspect(conn)
    places = [schema] if schema in (None, _LEGACY_SCHEMA) else [schema, _LEGACY_SCHEMA]
    for place in places:
        if inspector.has_table(schema_version.name, schema=place):
            name = _qualified(place, schema_version.name)
            found = conn.execute(sa.text(f"SELECT version FROM {name}")).scalar()
            return place, int(found or 0)
    return schema, 0
