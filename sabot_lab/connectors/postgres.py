"""A PostgreSQL table as the sink of a job, written exactly once per checkpoint.

:class:`PostgresSink` gets the job's rows in commits: the rows of one checkpoint epoch (those
between two barriers), handed over once the checkpoint after them is complete, or all of a
job that takes no checkpoints. Each commit is one transaction that writes the rows (an upsert
on ``key`` when given, of the last row of each key among the commit's rows: the ones before
it would be replaced within the transaction; else an insert) and records ``(job, table,
commit)`` in the ``sabot_commits`` table; a commit already recorded is skipped. So a commit repeated after a
crash writes nothing twice, and readers never see the rows of a checkpoint that did not
complete.

>>> sink = PostgresSink("postgresql://db/x", "hot_items", key=["auction"])
>>> PostgresSink.from_dict(sink.to_dict()).key
['auction']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sabot_lab.connectors.sink import CommitSink, register_sink
from sabot_lab.engine.retracting import latest_of
from sabot_lab.errors import PlanError, SourceError

if TYPE_CHECKING:
    from psycopg import sql

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
    primary key) of the PostgreSQL database at ``url``.

    ``table`` is a plain ``name`` or ``schema.name`` (letters, digits and ``_``), folded to
    lower case as PostgreSQL folds unquoted names; column names may be any text. All of them
    reach the database as quoted identifiers, and values as parameters.
    """

    kind = "postgres"
    takes_updates = True

    def __init__(self, url: str, table: str, key: Sequence[str] | None = None) -> None:
        parts = table.split(".")
        if len(parts) > 2 or not all(p.replace("_", "").isalnum() for p in parts):
            raise SourceError(f"table must be a plain (schema.)name, got {table!r}")
        self.url, self.table, self.key = url, table, list(key or [])
        self._table_path = [_folded(p) for p in parts]

    def keyed(self, key: tuple[str, ...]) -> PostgresSink:
        """This sink, when its key is the changelog's ``key``; else :class:`PlanError`.

        >>> PostgresSink("postgresql://db/x", "t", key=["k"]).keyed(("k",)).key
        ['k']
        """
        if set(self.key) != set(key):
            given = f"key={self.key}" if self.key else "no key"
            raise PlanError(
                f"PostgresSink({self.table!r}) has {given} and is given an upsert changelog "
                f"keyed by {list(key)}: give key={list(key)}, so each update replaces the row "
                "of its key"
            )
        return self

    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Write ``rows`` as commit ``commit`` of ``job_id`` in one transaction; False when
        that commit was written before (nothing is written again)."""
        import psycopg

        missing = [k for k in self.key if k not in rows.column_names]
        if missing:
            raise SourceError(
                f"the sink's key {missing} is not among the columns {rows.column_names}"
            )
        if self.key:
            rows = latest_of(rows, self.key)
        with psycopg.connect(self.url) as conn, conn.transaction():
            conn.execute(_CREATE_COMMITS)
            conn.execute(self._create(rows.schema))
            done = conn.execute(_FIND_COMMIT, (job_id, self.table, commit)).fetchone()
            if done:
                return False
            if rows.num_rows:
                with conn.cursor() as cursor:
                    cursor.executemany(self._insert(rows.column_names), _values(rows))
            conn.execute(_RECORD_COMMIT, (job_id, self.table, commit, rows.num_rows))
        return True

    def _create(self, schema: pa.Schema) -> sql.Composed:
        """``CREATE TABLE IF NOT EXISTS`` for rows of ``schema``.

        >>> sink = PostgresSink("postgresql://db/x", "s.Totals", key=['a"b'])
        >>> sink._create(pa.schema([('a"b', pa.int64())])).as_string()
        'CREATE TABLE IF NOT EXISTS "s"."totals" ("a""b" BIGINT, PRIMARY KEY ("a""b"))'
        """
        from psycopg import sql

        columns = [
            sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_column_type(f.type)))
            for f in schema
        ]
        if self.key:
            columns.append(sql.SQL("PRIMARY KEY ({})").format(_identifiers(self.key)))
        return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
            sql.Identifier(*self._table_path), sql.SQL(", ").join(columns)
        )

    def _insert(self, names: list[str]) -> sql.Composed:
        """The ``INSERT`` (an upsert on the key, when there is one) of one row of ``names``.

        >>> PostgresSink("postgresql://db/x", "t", key=["k"])._insert(["k", "v"]).as_string()
        'INSERT INTO "t" ("k", "v") VALUES (%s, %s) ON CONFLICT ("k") DO UPDATE SET "v" = EXCLUDED."v"'
        """
        from psycopg import sql

        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(*self._table_path),
            _identifiers(names),
            sql.SQL(", ").join([sql.Placeholder()] * len(names)),
        )
        if not self.key:
            return insert
        rest = [
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
            for n in names
            if n not in self.key
        ]
        action = (
            sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(rest))
            if rest
            else sql.SQL("DO NOTHING")
        )
        return sql.SQL("{} ON CONFLICT ({}) {}").format(insert, _identifiers(self.key), action)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the JobManager keeps it with the job)."""
        return {"kind": self.kind, "url": self.url, "table": self.table, "key": self.key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostgresSink:
        """Inverse of :meth:`to_dict`."""
        return cls(data["url"], data["table"], data["key"])


_CREATE_COMMITS = (
    "CREATE TABLE IF NOT EXISTS sabot_commits (job_id TEXT, sink TEXT, "
    "commit_id INTEGER, rows BIGINT, PRIMARY KEY (job_id, sink, commit_id))"
)
_FIND_COMMIT = "SELECT 1 FROM sabot_commits WHERE job_id = %s AND sink = %s AND commit_id = %s"
_RECORD_COMMIT = "INSERT INTO sabot_commits VALUES (%s, %s, %s, %s)"
"""The statements on the commit record: fixed text, values as parameters."""


def _folded(name: str) -> str:
    """``name`` as PostgreSQL reads it unquoted: ASCII letters in lower case.

    >>> _folded("Hot_Items_Ä")
    'hot_items_Ä'
    """
    return "".join(c.lower() if c.isascii() else c for c in name)


def _identifiers(names: Sequence[str]) -> sql.Composed:
    """Quoted, comma-separated column names.

    >>> _identifiers(["a", 'b"; --']).as_string()
    '"a", "b""; --"'
    """
    from psycopg import sql

    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _values(rows: pa.Table) -> list[tuple[Any, ...]]:
    columns = [c.to_pylist() for c in rows.columns]
    return list(zip(*columns, strict=True))
