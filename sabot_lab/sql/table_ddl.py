"""``CREATE [TEMPORARY] TABLE name (columns..., WATERMARK FOR ..., PRIMARY KEY (...) NOT ENFORCED)
[PARTITIONED BY (...)] WITH (...)`` of Flink SQL read into a :class:`TableDefinition`: the
physical columns with their Arrow types, the computed columns (``ts AS TO_TIMESTAMP(...)``,
``p AS PROCTIME()``) as expressions over them, the watermark (``WATERMARK FOR ts AS ts -
INTERVAL '4' SECOND``: column and delay), the primary key (as in Flink, declared ``NOT
ENFORCED``: the key of the rows a sink table keeps one of), the partition keys and the
``WITH`` options (:mod:`sabot_lab.sql.connector_tables` maps them onto
sources and sinks).

Flink's types map onto Arrow's: ``BIGINT`` int64, ``INT`` int32, ``SMALLINT``, ``TINYINT``,
``DOUBLE``, ``FLOAT``, ``BOOLEAN``, ``STRING``/``VARCHAR`` string, ``BYTES`` binary, ``DATE``,
``TIME``, ``TIMESTAMP(p)``/``TIMESTAMP_LTZ(p)`` a timestamp of the precision's unit (3: ms,
6: us, 9: ns), ``DECIMAL(p, s)``, ``ROW<...>`` struct, ``ARRAY<t>`` list, ``MAP<k, v>`` map.

May import: the SQL front end (``sqlglot``, :mod:`sabot_lab.sql.context`); no connector.

>>> from sabot_lab.sql.parse import parse
>>> text = '''CREATE TABLE bids (auction BIGINT, `dateTime` TIMESTAMP(3), price AS auction * 2,
...   WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND) WITH ('connector' = 'blackhole')'''
>>> table = table_definition(parse(text), Context(text, {}))
>>> table.physical
auction: int64
dateTime: timestamp[ms]
>>> [name for name, _ in table.computed], table.watermark, table.options
(['price'], ('dateTime', '4s'), {'connector': 'blackhole'})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from sabot_lab.sql.context import Context
from sabot_lab.sql.window_tables import interval
from sabot_lab.window_specs import Duration

__all__ = ["TableDefinition", "arrow_type", "table_definition"]

_SIMPLE: dict[Any, pa.DataType] = {  # sqlglot type → Arrow type
    exp.DataType.Type.TINYINT: pa.int8(),
    exp.DataType.Type.SMALLINT: pa.int16(),
    exp.DataType.Type.INT: pa.int32(),
    exp.DataType.Type.BIGINT: pa.int64(),
    exp.DataType.Type.FLOAT: pa.float32(),
    exp.DataType.Type.DOUBLE: pa.float64(),
    exp.DataType.Type.BOOLEAN: pa.bool_(),
    exp.DataType.Type.TEXT: pa.string(),
    exp.DataType.Type.VARCHAR: pa.string(),
    exp.DataType.Type.CHAR: pa.string(),
    exp.DataType.Type.DATE: pa.date32(),
    exp.DataType.Type.TIME: pa.time64("us"),
    exp.DataType.Type.BINARY: pa.binary(),
    exp.DataType.Type.VARBINARY: pa.binary(),
}
_TIMESTAMPS = {
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPNTZ,
    exp.DataType.Type.TIMESTAMPLTZ,
    exp.DataType.Type.TIMESTAMPTZ,
}
_PRECISION_UNITS = {0: "s", 3: "ms", 6: "us", 9: "ns"}


@dataclass(frozen=True)
class TableDefinition:
    """A ``CREATE TABLE``'s parts: its ``name``, ``physical`` columns (read from and written to
    the connector), ``computed`` columns (name and expression, computed after reading),
    ``order`` (every column as declared), ``watermark`` (column and delay, or None),
    ``partition_by`` keys, ``options`` (the ``WITH`` clause), the statement ``node`` and
    the ``primary_key`` columns (none when not declared)."""

    name: str
    physical: pa.Schema
    computed: tuple[tuple[str, exp.Expr], ...]
    order: tuple[str, ...]
    watermark: tuple[str, Duration] | None
    partition_by: tuple[str, ...]
    options: dict[str, str]
    node: exp.Create
    primary_key: tuple[str, ...] = ()


def arrow_type(node: exp.DataType, ctx: Context) -> pa.DataType:
    """The Arrow type of a Flink SQL type.

    >>> from sabot_lab.sql.parse import parse
    >>> cast = parse("SELECT CAST(x AS ROW<a BIGINT, b DECIMAL(23, 3)>)").expressions[0]
    >>> arrow_type(cast.args["to"], Context("", {}))
    StructType(struct<a: int64, b: decimal128(23, 3)>)
    """
    kind = node.this
    params = [p.this for p in node.expressions if isinstance(p, exp.DataTypeParam)]
    if kind in _TIMESTAMPS:
        precision = int(params[0].this) if params else 6  # Flink's default precision
        unit = _PRECISION_UNITS.get(precision)
        if unit is None:
            raise ctx.unsupported(f"the timestamp precision {precision} (use 0, 3, 6 or 9)", node)
        return pa.timestamp(unit, "UTC" if kind == exp.DataType.Type.TIMESTAMPLTZ else None)
    if kind == exp.DataType.Type.DECIMAL:
        precision, scale = (*(int(p.this) for p in params), 10, 0)[:2] if params else (10, 0)
        return pa.decimal128(precision, scale)
    if kind == exp.DataType.Type.STRUCT:
        fields = [pa.field(f.name, arrow_type(f.args["kind"], ctx)) for f in node.expressions]
        return pa.struct(fields)
    if kind == exp.DataType.Type.ARRAY and node.expressions:
        return pa.list_(arrow_type(node.expressions[0], ctx))
    if kind == exp.DataType.Type.MAP and len(node.expressions) == 2:
        key, value = node.expressions
        return pa.map_(arrow_type(key, ctx), arrow_type(value, ctx))
    if kind == exp.DataType.Type.USERDEFINED and node.sql().upper() == "BYTES":
        return pa.binary()
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    raise ctx.unsupported(f"the column type {node.sql()}", node)


def table_definition(node: exp.Create, ctx: Context) -> TableDefinition:
    """The definition a ``CREATE TABLE ... WITH (...)`` statement gives."""
    schema = node.this
    assert isinstance(schema, exp.Schema)  # a column list: CREATE TABLE ... AS is refused before
    table = schema.this
    if not isinstance(table, exp.Table) or table.args.get("db") or table.args.get("catalog"):
        raise ctx.unsupported(f"the table name {table.sql()!r}", node)
    physical: list[pa.Field] = []
    computed: list[tuple[str, exp.Expr]] = []
    order: list[str] = []
    watermark = None
    primary_key: list[str] = []
    for item in schema.expressions:
        if isinstance(item, exp.PrimaryKey):
            primary_key.extend(_primary_key(item, [c.name for c in item.expressions], ctx))
            continue
        if isinstance(item, exp.WatermarkColumnConstraint):
            if watermark is not None:
                raise ctx.error("a table takes one WATERMARK", item)
            watermark = _watermark(item, ctx)
            continue
        if not isinstance(item, exp.ColumnDef):
            raise ctx.unsupported(f"{item.sql()} in CREATE TABLE", item)
        name = item.name
        if name.lower() in (o.lower() for o in order):
            raise ctx.error(f"column '{name}' is declared twice", item)
        order.append(name)
        if _column_key(item, ctx):
            primary_key.append(name)
        expression = _computed(item, ctx)
        if expression is not None:
            computed.append((name, expression))
        elif item.args.get("kind") is None:
            raise ctx.error(f"column '{name}' needs a type (or AS expression)", item)
        else:
            physical.append(pa.field(name, arrow_type(item.args["kind"], ctx)))
    if watermark is not None and watermark[0] not in order:
        found = [o for o in order if o.lower() == watermark[0].lower()]
        if not found:
            raise ctx.error(
                f"WATERMARK FOR names '{watermark[0]}', not a column of the table "
                f"({', '.join(order)})",
                schema,
            )
        watermark = (found[0], watermark[1])
    return TableDefinition(
        name=table.name,
        physical=pa.schema(physical),
        computed=tuple(computed),
        order=tuple(order),
        watermark=watermark,
        partition_by=_partition_keys(node, order, ctx),
        options=_options(node, ctx),
        node=node,
        primary_key=_declared(primary_key, order, schema, ctx),
    )


def _primary_key(node: exp.Expr, columns: list[str], ctx: Context) -> list[str]:
    """The columns of a ``PRIMARY KEY``, which must say ``NOT ENFORCED`` as Flink's do."""
    options = " ".join(
        o.sql() if isinstance(o, exp.Expr) else str(o) for o in node.args.get("options") or []
    )
    if "NOT ENFORCED" not in options.upper():
        raise ctx.error(
            "PRIMARY KEY needs NOT ENFORCED, as in Flink: sabot-lab does not check the rows "
            "written are unique; it keeps the last row of each key",
            node,
        )
    return columns


def _column_key(column: exp.ColumnDef, ctx: Context) -> bool:
    """Whether a column is declared ``PRIMARY KEY NOT ENFORCED``."""
    constraints = column.args.get("constraints") or []
    keys = [
        c for c in constraints if isinstance(c.args.get("kind"), exp.PrimaryKeyColumnConstraint)
    ]
    for key in keys:
        _primary_key(key.args["kind"], [], ctx)
    return bool(keys)


def _declared(key: list[str], order: list[str], node: exp.Expr, ctx: Context) -> tuple[str, ...]:
    """The primary key's columns as declared (each a column of the table, one key)."""
    found = []
    for name in key:
        match = [o for o in order if o.lower() == name.lower()]
        if not match:
            raise ctx.error(
                f"PRIMARY KEY names '{name}', not a column of the table ({', '.join(order)})",
                node,
            )
        found.append(match[0])
    if len(set(found)) != len(found):
        raise ctx.error(f"the PRIMARY KEY ({', '.join(key)}) is declared twice", node)
    return tuple(found)


def _computed(column: exp.ColumnDef, ctx: Context) -> exp.Expr | None:
    """The expression of a computed column (``name AS expression``), None for a physical one."""
    found = None
    for constraint in column.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.ComputedColumnConstraint) and not kind.args.get("persisted"):
            found = kind.this
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            continue  # the table's key (_column_key)
        else:
            raise ctx.unsupported(f"the column constraint {constraint.sql()}", constraint)
    return found


def _watermark(node: exp.WatermarkColumnConstraint, ctx: Context) -> tuple[str, Duration]:
    """``(column, delay)`` of ``WATERMARK FOR column AS column [- INTERVAL ...]``."""
    column, bound = node.this, node.expression
    delay: Duration = "0s"
    if isinstance(bound, exp.Sub) and isinstance(bound.expression, exp.Interval):
        delay = interval(bound.expression, ctx)
        bound = bound.this
    if not (isinstance(bound, exp.Column) and bound.name.lower() == column.name.lower()):
        raise ctx.unsupported(
            f"the watermark {node.expression.sql()} (write WATERMARK FOR {column.name} AS "
            f"{column.name} - INTERVAL 'n' SECOND: rows up to n seconds out of order)",
            node,
        )
    return column.name, delay


def _partition_keys(node: exp.Create, order: list[str], ctx: Context) -> tuple[str, ...]:
    keys: list[str] = []
    properties = node.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.PartitionedByProperty):
            for key in prop.this.expressions:
                if key.name not in order:
                    raise ctx.error(f"PARTITIONED BY names '{key.name}', not a column", key)
                keys.append(key.name)
    return tuple(keys)


def _options(node: exp.Create, ctx: Context) -> dict[str, str]:
    """The ``WITH ('key' = 'value', ...)`` options, as text."""
    options: dict[str, str] = {}
    properties = node.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.PartitionedByProperty | exp.TemporaryProperty):
            continue  # every table lasts as long as its catalog
        key = prop.this
        value = prop.args.get("value")
        if not (
            isinstance(prop, exp.Property)
            and isinstance(key, exp.Literal)
            and key.is_string
            and isinstance(value, exp.Literal)
        ):
            raise ctx.unsupported(
                f"{prop.sql()} in CREATE TABLE (options are WITH ('key' = 'value', ...))", prop
            )
        options[str(key.this)] = str(value.this)
    if not options:
        raise ctx.error(
            f"CREATE TABLE {node.this.this.name} needs WITH ('connector' = ...): the table's "
            "rows come from and go to a connector",
            node,
        )
    return options
