"""A PostgreSQL table as the sink of a job, written exactly once per checkpoint.

:class:`PostgresSink` gets the job's rows in commits: the rows of one checkpoint epoch (those
between two barriers), handed over once the checkpoint after them is complete, or all of a
job that takes no checkpoints. Each commit is one transaction that writes the rows (an upsert
on ``key`` when given, else an insert) and records ``(job, table, commit)`` in the
``sabot_commits`` table; a commit already recorded is skipped. So a commit repeated after a
crash writes nothing twice, and readers never see the rows of a checkpoint that did not
complete.

>>> sink = PostgresSink("postgresql://db/x", "hot_items", key=["auction"])
>>> PostgresSink.from_dict(sink.to_dict()).key
['auction']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.connectors.sink import CommitSink, register_sink
from sabot_lab.errors import SourceError

__all__ = ["PostgresSink"]

_TYPES = [
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_int64, "BIGINT"),
    (pa.types.is_integer, "INTEGER"),
    (pa.types.is_floating, "DOUBLE PRECISION"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (pa.types.is_date, "DATE"),
    (pa.types.is_decimal, "NUMERIC"),
]


def _column_type(kind: pa.DataType) -> str:
    """The PostgreSQL type of an Arrow column (TEXT for the rest).

    >>> _column_type(pa.int64()), _column_type(pa.string())
    ('BIGINT', 'TEXT')
    """
    return next((name for test, name in _TYPES if test(kind)), "TEXT")


@register_sink
class PostgresSink(CommitSink):
    """Rows into ``table`` (created from the rows' schema when missing, with ``key`` as its
    primary key) of the PostgreSQL database at ``url``."""

    kind = "postgres"

    def __init__(self, url: str, table: str, key: Sequence[str] | None = None) -> None:
        if not table.replace("_", "").replace(".", "").isalnum():
            raise SourceError(f"table must be a plain (schema.)name, got {table!r}")
        self.url, self.table, self.key = url, table, list(key or [])

    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Write ``rows`` as commit ``commit`` of ``job_id`` in one transaction; False when
        that commit was written before (nothing is written again)."""
        import psycopg

        missing = [k for k in self.key if k not in rows.column_names]
        if missing:
            raise SourceError(
                f"the sink's key {missing} is not among the columns {rows.column_names}"
            )
        with psycopg.connect(self.url) as conn, conn.transaction():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sabot_commits (job_id TEXT, sink TEXT, "
                "commit_id INTEGER, rows BIGINT, PRIMARY KEY (job_id, sink, commit_id))"
            )
            conn.execute(self._create(rows.schema))
            done = conn.execute(
                "SELECT 1 FROM sabot_commits WHERE job_id = %s AND sink = %s AND commit_id = %s",
                (job_id, self.table, commit),
            ).fetchone()
            if done:
                return False
            if rows.num_rows:
                with conn.cursor() as cursor:
                    cursor.executemany(self._insert(rows.column_names), _values(rows))
            conn.execute(
                "INSERT INTO sabot_commits VALUES (%s, %s, %s, %s)",
                (job_id, self.table, commit, rows.num_rows),
            )
        return True

    def _create(self, schema: pa.Schema) -> str:
        columns = [f'"{f.name}" {_column_type(f.type)}' for f in schema]
        if self.key:
            columns.append(f"PRIMARY KEY ({', '.join(f'{chr(34)}{k}{chr(34)}' for k in self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.table} ({', '.join(columns)})"

    def _insert(self, names: list[str]) -> str:
        quoted = [f'"{n}"' for n in names]
        sql = (
            f"INSERT INTO {self.table} ({', '.join(quoted)}) "
            f"VALUES ({', '.join(['%s'] * len(names))})"
        )
        if not self.key:
            return sql
        keys = ", ".join(f'"{k}"' for k in self.key)
        rest = [
            f"{q} = EXCLUDED.{q}" for n, q in zip(names, quoted, strict=True) if n not in self.key
        ]
        action = f"DO UPDATE SET {', '.join(rest)}" if rest else "DO NOTHING"
        return f"{sql} ON CONFLICT ({keys}) {action}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the JobManager keeps it with the job)."""
        return {"kind": self.kind, "url": self.url, "table": self.table, "key": self.key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostgresSink:
        """Inverse of :meth:`to_dict`."""
        return cls(data["url"], data["table"], data["key"])


def _values(rows: pa.Table) -> list[tuple[Any, ...]]:
    columns = [c.to_pylist() for c in rows.columns]
    return list(zip(*columns, strict=True))
