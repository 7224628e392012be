"""``INSERT INTO table [(columns)] query`` of Flink SQL: the query's rows into a table made by
``CREATE TABLE ... WITH ('connector' = ...)`` (:mod:`sabot_lab.sql.connector_tables`).

The query's columns go to the table's physical columns by position (or to the listed
``columns``, the others null), cast to their declared types. Given a cluster, the pipeline
runs there as a job writing to the connector's sink (a checkpoint every
``checkpoint_interval`` seconds, :data:`CHECKPOINT_INTERVAL` by default for an unbounded
query: a job's sink takes the rows of complete checkpoints); the
:class:`~sabot_lab.client.Job` is the statement's result. Without one, a bounded query runs
here, as ``to_parquet`` and ``to_kafka`` do, and its result is the number of rows written; an
unbounded one is refused (it would never end).

May import: the rest of :mod:`sabot_lab.sql`, ``sqlglot``, the plan's termination rules; the
client only as types.

>>> import sabot_lab as sl
>>> ctx = sl.SQLContext(t=sl.from_pydict({"x": [1, 2]}))
>>> ctx.execute("CREATE TABLE out (x BIGINT) WITH ('connector' = 'print'); INSERT INTO out SELECT x * 10 FROM t")
+I[10]
+I[20]
2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sabot_lab.expr import col, lit
from sabot_lab.logical.termination import require_rows
from sabot_lab.sql.catalog import Catalog
from sabot_lab.sql.connector_tables import ConnectorTable
from sabot_lab.sql.context import Context, find_name
from sabot_lab.sql.select import query_relation
from sabot_lab.stream import Stream

if TYPE_CHECKING:
    from sabot_lab.client import Cluster, Job

__all__ = ["CHECKPOINT_INTERVAL", "insert_into"]

CHECKPOINT_INTERVAL = 5.0
"""Seconds between the checkpoints of an unbounded ``INSERT INTO``'s job, unless given."""

_FLAGS = {"this", "expression"}


def insert_into(
    node: exp.Insert,
    catalog: Catalog,
    ctx: Context,
    cluster: Cluster | None = None,
    checkpoint_interval: float | None = None,
    partitions: int | None = None,
) -> int | Job:
    """Run ``INSERT INTO``: the rows written (here), or the job (on ``cluster``, with
    ``partitions`` tasks per stage: by default the agents' slots)."""
    for key, value in node.args.items():
        if value and key not in _FLAGS:
            what = "INSERT OVERWRITE" if key == "overwrite" else f"{key.upper()} in INSERT"
            raise ctx.unsupported(what, node)
    target, columns = node.this, []
    if isinstance(target, exp.Schema):
        columns = [c.name for c in target.expressions]
        target = target.this
    table = _sink_table(target, catalog, ctx)
    with ctx.building(target, f"INSERT INTO {table.name}"):
        table.check_writable()
    query = node.expression
    if not isinstance(query, exp.Query):
        raise ctx.unsupported(f"INSERT INTO {table.name} {query.key.upper()}", query)
    targets = _targets(table, columns, target, ctx)
    rows = _as_table_rows(query_relation(query, ctx).stream, table, targets, query, ctx)
    if cluster is not None:
        ends = require_rows(rows.graph, rows.node_id, f"INSERT INTO {table.name}").ends
        interval = checkpoint_interval
        if interval is None and not ends:
            interval = CHECKPOINT_INTERVAL
        with ctx.building(node, f"INSERT INTO {table.name}"):
            sink = table.commit_sink()
        return rows.submit(
            cluster,
            name=f"INSERT INTO {table.name}",
            partitions=partitions,
            checkpoint_interval=interval,
            sink=sink,
        )
    with ctx.building(node, f"INSERT INTO {table.name}"):
        if not require_rows(rows.graph, rows.node_id, f"INSERT INTO {table.name}").ends:
            raise ctx.error(
                f"INSERT INTO {table.name} reads an unbounded stream, so running it here would "
                "never end: submit it to a cluster (SQLContext.execute(script, cluster=...), "
                "%%sabot --cluster), or bound the source (e.g. 'events.num', "
                "'scan.bounded.mode' = 'latest-offset')",
                node,
            )
        return table.write(rows)


def _sink_table(target: exp.Expr, catalog: Catalog, ctx: Context) -> ConnectorTable:
    if not isinstance(target, exp.Table) or target.args.get("db") or target.args.get("catalog"):
        raise ctx.unsupported(f"the table name {target.sql()!r} in INSERT INTO", target)
    found = catalog.find(target.name)
    if found is not None and found in catalog.connectors:
        return catalog.connectors[found]
    tables = ", ".join(sorted(catalog.connectors)) or "(none)"
    what = "a view" if found in catalog.views else "a table given as a Python object"
    if found is None:
        what = "no table"
    raise ctx.error(
        f"INSERT INTO writes tables made by CREATE TABLE ... WITH ('connector' = ...); "
        f"'{target.name}' is {what}. Such tables: {tables}",
        target,
    )


def _targets(table: ConnectorTable, columns: list[str], node: exp.Expr, ctx: Context) -> list[str]:
    """The table's columns the query's columns go to: the listed ones, else all physical."""
    names = table.definition.physical.names
    targets = []
    for name in columns or names:
        found = find_name(name, names)
        if found is None:
            raise ctx.error(
                f"INSERT INTO {table.name} ({', '.join(columns)}): '{name}' is not a column "
                f"of the table ({', '.join(names)})",
                node,
            )
        targets.append(found)
    return targets


def _as_table_rows(
    rows: Stream, table: ConnectorTable, targets: list[str], query: exp.Expr, ctx: Context
) -> Stream:
    """The query's rows as the table's physical columns (``targets`` from the query's, by
    position; the others null), cast to their types."""
    physical = table.definition.physical
    if len(rows.columns) != len(targets):
        raise ctx.error(
            f"INSERT INTO {table.name}: the query gives {len(rows.columns)} columns "
            f"({', '.join(rows.columns)}) and the table takes {len(targets)} "
            f"({', '.join(targets)}); select one value per column, in the table's order",
            query,
        )
    source = dict(zip(targets, rows.columns, strict=True))
    values: list[Any] = []
    for field in physical:
        if field.name not in source:
            values.append(lit(None, field.type).alias(field.name))
            continue
        value = col(source[field.name])
        if rows.schema.field(source[field.name]).type != field.type:
            value = value.cast(field.type)
        values.append(value.alias(field.name))
    with ctx.building(query, f"INSERT INTO {table.name}"):
        return rows.select(*values)
