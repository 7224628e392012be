"""Tables made by ``CREATE TABLE ... WITH ('connector' = ...)``: the ``WITH`` options mapped
onto sabot-lab's sources and sinks, as Flink SQL names them.

=============  ===========================================  =================================
connector      options                                      read as / written to
=============  ===========================================  =================================
``kafka``      ``topic``, ``properties.bootstrap.servers``,  :func:`~sabot_lab.from_kafka` /
               ``properties.group.id``, ``format`` (json,    ``to_kafka``, ``KafkaSink``
               avro), ``scan.startup.mode`` (earliest-,
               latest-, group-offsets, timestamp with
               ``scan.startup.timestamp-millis``),
               ``scan.bounded.mode`` (unbounded,
               latest-offset), ``key.fields`` (one column),
               ``sink.partitioner``
``filesystem`` ``path`` (a directory), ``format`` (parquet,  the directory's files / a new file
               csv without header, json lines),             in it, ``ParquetSink``; with
               ``PARTITIONED BY`` (parquet, csv) hive       ``PARTITIONED BY`` a directory
               directories; ``sink.partition-commit.*``,    ``key=value`` per partition, its
               ``sink.rolling-policy.*`` and                ``_SUCCESS`` file written when the
               ``partition.time-extractor.*`` (partitions   INSERT ends (``success-file``);
               commit when a bounded INSERT ends)           a job's: ``PartitionedFileSink``
``nexmark``,   ``events.num`` (0: no end),                  the Nexmark generator's events
``datagen``    ``first-event.rate`` = ``next-event.rate``,   (``sl.nexmark(...).events``)
               ``person/auction/bid.proportion`` (1/3/46),
               ``max-emit-speed``, ``keep-alive``,
               ``stop-at``; datagen: ``number-of-rows``
``jdbc``       ``url`` (``jdbc:postgresql://...``),         a PostgreSQL table, ``PostgresSink``
               ``table-name``, ``username``, ``password``   (upserts on the PRIMARY KEY)
``blackhole``  (none)                                       rows dropped, ``BlackholeSink``
``print``      ``print-identifier``                         rows printed as ``+I[...]``
=============  ===========================================  =================================

A nexmark table with ``'max-emit-speed' = 'false'`` is paced: its events come at their rate
in wall-clock time too, as in Flink (by default as fast as they are read).

A filesystem table declaring ``PRIMARY KEY (k) NOT ENFORCED`` (Flink's upsert tables) takes an
upsert changelog keyed by ``k``: ``INSERT INTO`` keeps the last row of each key in one Parquet
file, ``snapshot.parquet`` in its path, replaced whole at each commit
(:class:`~sabot_lab.connectors.parquet_snapshot.ParquetSnapshotSink`); the other sinks append
rows and refuse a changelog of updates. So does a jdbc table: with ``PRIMARY KEY (k) NOT
ENFORCED`` each row is an upsert on ``k`` in its PostgreSQL table, else an insert; each
checkpoint's rows are written in one transaction, once (:class:`~sabot_lab.PostgresSink`).

A table reads its physical columns from the connector (cast to the declared types), computes
its computed columns, and tracks event time on its ``WATERMARK`` column. An unknown connector
or option is an error naming it and the supported ones. Flink's former option names
(``connector.type``, ``connector.path``, ``format.type``) are read as the current ones.

May import: the SQL front end, the stream and the connectors.

>>> import sabot_lab as sl
>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import parse
>>> from sabot_lab.sql.table_ddl import table_definition
>>> text = "CREATE TABLE t (x INT) WITH ('connector' = 'filesystem', 'path' = '/tmp/t', 'format' = 'orc')"
>>> connector_table(table_definition(parse(text), Context(text, {})), Context(text, {}))
Traceback (most recent call last):
...
sabot_lab.errors.SQLError: line 1, column 77: 'format' = 'orc' is not supported by the filesystem connector; use one of parquet, csv, json
  CREATE TABLE t (x INT) WITH ('connector' = 'filesystem', 'path' = '/tmp/t', 'format' = 'orc')
                                                                              ^
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
from sqlglot import exp

from sabot_lab.connectors.blackhole import BlackholeSink
from sabot_lab.connectors.changelog_sinks import sink_for
from sabot_lab.connectors.file_formats import CsvOptions, JsonOptions
from sabot_lab.connectors.file_writers import write_partitioned
from sabot_lab.connectors.files import FileSource
from sabot_lab.connectors.kafka import KafkaSink
from sabot_lab.connectors.nexmark import NexmarkSource
from sabot_lab.connectors.parquet_sink import ParquetSink
from sabot_lab.connectors.parquet_snapshot import ParquetSnapshotSink
from sabot_lab.connectors.partitioned_file_sink import PARTITIONED_FORMATS, PartitionedFileSink
from sabot_lab.connectors.postgres import PostgresSink
from sabot_lab.connectors.sink import CommitSink
from sabot_lab.errors import PlanError, SourceError, SQLError
from sabot_lab.expr import Expr, col, lit
from sabot_lab.sql.context import Context, find_name
from sabot_lab.sql.expressions import RowScope, translate
from sabot_lab.sql.parse import parse
from sabot_lab.sql.relation import Relation
from sabot_lab.sql.table_ddl import TableDefinition
from sabot_lab.stream import Stream, from_arrow, from_kafka, from_source

__all__ = ["CONNECTORS", "SNAPSHOT_FILE", "ConnectorTable", "connector_table"]

SNAPSHOT_FILE = "snapshot.parquet"
"""The file in a filesystem table's directory that holds its rows when it declares a primary
key: the last row of each key, replaced whole at each commit."""

CONNECTORS: dict[str, tuple[str, ...]] = {
    "kafka": (
        "topic", "properties.bootstrap.servers", "properties.group.id", "format",
        "scan.startup.mode", "scan.startup.timestamp-millis", "scan.bounded.mode",
        "key.fields", "sink.partitioner",
    ),
    "filesystem": (
        "path", "format", "sink.partition-commit.policy.kind", "sink.partition-commit.trigger",
        "sink.partition-commit.delay", "partition.time-extractor.timestamp-pattern",
        "sink.rolling-policy.rollover-interval", "sink.rolling-policy.check-interval",
    ),
    "nexmark": (
        "events.num", "first-event.rate", "next-event.rate", "person.proportion",
        "auction.proportion", "bid.proportion", "max-emit-speed", "keep-alive", "stop-at",
    ),
    "datagen": ("number-of-rows",),
    "jdbc": ("url", "table-name", "username", "password"),
    "blackhole": (),
    "print": ("print-identifier",),
}  # fmt: skip
"""The connectors and the options each takes (besides ``connector``)."""

_GENERATED = frozenset({"nexmark", "datagen"})
"""Connectors whose rows depend on the table's options alone: a table of one builds the
stream its queries read once (each statement of a script, each view checked at ``CREATE
VIEW``, reads it again), where a file listing or a topic's offsets must be read anew."""
_JDBC_URL = "jdbc:postgresql://"
_FORMER_NAMES = {"connector.type": "connector", "connector.path": "path", "format.type": "format"}
_STARTUP = {"earliest-offset": "earliest", "latest-offset": "latest", "group-offsets": "earliest"}
_NEXMARK_SHARES = {"person.proportion": 1, "auction.proportion": 3, "bid.proportion": 46}
_KAFKA_FORMATS = ("json", "avro")
_FILE_FORMATS = ("parquet", "csv", "json")


@dataclass(frozen=True)
class ConnectorTable:
    """A table of a connector: its ``definition``, the ``connector`` and its checked
    ``options``, and the ``text`` of the script that created it (where errors point)."""

    definition: TableDefinition
    connector: str
    options: Mapping[str, str]
    text: str
    _built: list[tuple[tuple[tuple[str, Any], ...], Stream]] = dataclasses.field(
        default_factory=list, init=False, repr=False, compare=False
    )
    """A generator's stream, once built, with the functions it was built with."""

    @property
    def name(self) -> str:
        """The table's name."""
        return self.definition.name

    # -- reading -------------------------------------------------------------------------
    def source(self, functions: Mapping[str, Any]) -> Stream:
        """The rows a query reads: the physical columns from the connector, the computed
        ones, and the watermark."""
        reader = _READERS.get(self.connector)
        if reader is None:
            raise SQLError(
                f"table '{self.name}' is a {self.connector} sink: INSERT INTO writes it, no "
                "query can read it"
            )
        if self.connector not in _GENERATED:
            return self.conformed(reader(self), functions)
        known = tuple(functions.items())
        for built_with, stream in self._built:
            if len(built_with) == len(known) and all(
                name == other and fn is same
                for (name, fn), (other, same) in zip(built_with, known, strict=True)
            ):
                return stream
        stream = self.conformed(reader(self), functions)
        self._built[:] = [(known, stream)]
        return stream

    def conformed(self, raw: Stream, functions: Mapping[str, Any]) -> Stream:
        """``raw`` (the connector's rows) as the table's columns: the physical ones by name,
        cast to their declared types, the computed ones, then the watermark."""
        ctx = Context(self.text, {}, functions)
        definition = self.definition
        physical = []
        for field in definition.physical:
            found = find_name(field.name, raw.columns)
            if found is None:
                raise ctx.error(
                    f"table '{self.name}': its {self.connector} source has no column "
                    f"'{field.name}' (it has {', '.join(raw.columns)})",
                    definition.node,
                )
            have = raw.schema.field(found).type
            if have != field.type and pa.types.is_nested(have):
                raise ctx.error(
                    f"table '{self.name}': column '{field.name}' is declared {field.type}, and "
                    f"its {self.connector} source gives {have}; declare it as the source gives it",
                    definition.node,
                )
            physical.append(_as_type(raw, found, field))
        with ctx.building(definition.node, f"CREATE TABLE {self.name}"):
            stream = raw.select(*physical)
            relation = Relation.of(stream, self.name)
            computed, given = [], []
            for name, node in definition.computed:
                expr = translate(node, RowScope(relation, ctx, f"column {name}"))
                found = self._given_column(name, expr, relation, raw)
                if found is None:
                    computed.append(expr.alias(name))
                else:
                    given.append(col(found).alias(name))
            if given:
                stream = raw.select(*physical, *given)
            if computed:
                stream = stream.with_columns(*computed)
            if computed or given:
                stream = stream.select(*definition.order)
            if definition.watermark is not None:
                stream = stream.with_watermark(*definition.watermark)
        return stream

    def _given_column(self, name: str, expr: Expr, relation: Relation, raw: Stream) -> str | None:
        """The column of ``raw`` holding computed column ``name`` (``expr`` over the table's
        physical columns) as it is, if the connector gives it (:data:`_SOURCE_COLUMNS`), else
        None."""
        text = _SOURCE_COLUMNS.get(self.connector, {}).get(name)
        found = find_name(name, raw.columns)
        if text is None or found is None:
            return None
        ctx = Context(f"SELECT {text}", {})
        try:
            given = translate(parse(ctx.text).expressions[0], RowScope(relation, ctx, name))
        except SQLError:  # the table lacks a column the source's expression reads
            return None
        return found if given.equals(expr) else None

    # -- writing -------------------------------------------------------------------------
    def check_writable(self) -> None:
        """An error unless ``INSERT INTO`` can write this table."""
        if self.connector not in _WRITERS:
            raise PlanError(
                f"table '{self.name}' is a {self.connector} source: queries read it, INSERT "
                "INTO cannot write it"
            )

    def write(self, rows: Stream) -> int:
        """Run ``rows`` (bounded, the table's physical columns) into the connector; the
        number of rows written."""
        self.check_writable()
        return _WRITERS[self.connector](self, rows)

    def commit_sink(self) -> CommitSink:
        """The sink a cluster's job writes this table's rows to: a filesystem table
        ``PARTITIONED BY`` takes them as hive directories of files committed at each
        checkpoint (:class:`~sabot_lab.connectors.partitioned_file_sink.PartitionedFileSink`;
        a job writes no ``_SUCCESS`` file, and says so in a warning)."""
        self.check_writable()
        if self.connector == "blackhole":
            return BlackholeSink()
        if self.connector == "jdbc":
            return self._postgres_sink()
        if self.connector == "kafka":
            return KafkaSink(
                self.options["topic"], self.options["properties.bootstrap.servers"],
                _kafka_key(self), self.options.get("format", "json"),  # type: ignore[arg-type]
            )  # fmt: skip
        if self.definition.primary_key:
            return self._snapshot_sink()
        keys = self.definition.partition_by
        if self.connector == "filesystem" and keys and self._format() in PARTITIONED_FORMATS:
            if self.options.get("sink.partition-commit.policy.kind") == "success-file":
                warnings.warn(
                    f"INSERT INTO {self.name} on a cluster: the job commits each partition's "
                    "files at every checkpoint and writes no _SUCCESS file (the success-file "
                    "policy is applied when an INSERT runs here, at its end)",
                    UserWarning,
                    stacklevel=2,
                )
            return PartitionedFileSink(self._path(), keys, self._format())
        if self.connector == "filesystem" and self._format() == "parquet":
            return ParquetSink(self._path())
        raise SQLError(
            f"INSERT INTO {self.name} on a cluster: a job writes to kafka, jdbc, blackhole and "
            "filesystem tables in Parquet ('format' = 'parquet'), or PARTITIONED BY in "
            f"{' or '.join(PARTITIONED_FORMATS)}; this {self.connector} table takes rows in this "
            "process only (run the INSERT without a cluster on a bounded query)"
        )

    def _snapshot_sink(self) -> ParquetSnapshotSink:
        """The sink of a filesystem table with a primary key: the snapshot
        ``<path>/snapshot.parquet`` (one row per key)."""
        key = self.definition.primary_key
        return ParquetSnapshotSink(os.path.join(self._path(), SNAPSHOT_FILE), key)

    def _postgres_sink(self) -> PostgresSink:
        """The sink of a jdbc table: its PostgreSQL table, an upsert on the primary key
        when it declares one."""
        options = self.options
        url = options["url"].removeprefix("jdbc:")
        login = {"user": options.get("username"), "password": options.get("password")}
        given = urlencode({k: v for k, v in login.items() if v is not None})
        if given:
            url = f"{url}{'&' if '?' in url else '?'}{given}"
        return PostgresSink(url, options["table-name"], self.definition.primary_key)

    def _format(self) -> str:
        return self.options.get("format", "")

    def _path(self) -> str:
        return self.options["path"].removeprefix("file://").rstrip("/") or "/"


def connector_table(definition: TableDefinition, ctx: Context) -> ConnectorTable:
    """The table a definition makes: its options checked for its connector (an error naming
    an unknown connector or option and the supported ones)."""
    node = definition.node
    options = {_FORMER_NAMES.get(k, k): v for k, v in definition.options.items()}
    connector = options.pop("connector", None)
    supported = ", ".join(CONNECTORS)
    if connector is None:
        raise ctx.error(
            f"CREATE TABLE {definition.name} needs 'connector' = ... in WITH: one of {supported}",
            node,
        )
    if connector not in CONNECTORS:
        raise ctx.error(
            f"unknown connector '{connector}' in CREATE TABLE {definition.name}; sabot-lab's "
            f"are {supported}",
            _at(definition, "connector"),
        )
    for key, value in options.items():
        if key not in CONNECTORS[connector]:
            takes = ", ".join(CONNECTORS[connector]) or "no options"
            raise ctx.error(
                f"the {connector} connector has no option '{key}'; it takes {takes}",
                _at(definition, key),
            )
        if "${" in value:
            raise ctx.error(
                f"option '{key}' = '{value}' holds a placeholder: put its value in",
                _at(definition, key),
            )
    table = ConnectorTable(definition, connector, options, ctx.text)
    _CHECKS[connector](table, ctx)
    _check_primary_key(table, ctx)
    table.conformed(_empty(definition.physical), ctx.functions)  # computed columns checked now
    return table


# -- options per connector ---------------------------------------------------------------
def _at(table: ConnectorTable | TableDefinition, key: str) -> exp.Expr:
    """Where the option ``key`` is written (the statement if it is not)."""
    definition = table if isinstance(table, TableDefinition) else table.definition
    properties = definition.node.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        name = str(prop.this.this) if isinstance(prop.this, exp.Literal) else ""
        if _FORMER_NAMES.get(name, name) == key:
            return prop
    return definition.node


def _require(table: ConnectorTable, key: str, ctx: Context) -> str:
    value = table.options.get(key)
    if value is None:
        raise ctx.error(
            f"the {table.connector} connector needs the option '{key}'", table.definition.node
        )
    return value


def _choice(table: ConnectorTable, key: str, allowed: tuple[str, ...], ctx: Context) -> None:
    value = table.options.get(key)
    if value is not None and value not in allowed:
        raise ctx.error(
            f"'{key}' = '{value}' is not supported by the {table.connector} connector; use one "
            f"of {', '.join(allowed)}",
            _at(table, key),
        )


def _check_kafka(table: ConnectorTable, ctx: Context) -> None:
    _require(table, "topic", ctx)
    _require(table, "properties.bootstrap.servers", ctx)
    _choice(table, "format", _KAFKA_FORMATS, ctx)
    _choice(table, "scan.startup.mode", (*_STARTUP, "timestamp"), ctx)
    _choice(table, "scan.bounded.mode", ("unbounded", "latest-offset"), ctx)
    _choice(table, "sink.partitioner", ("default", "round-robin", "fixed"), ctx)
    if table.options.get("scan.startup.mode") == "timestamp":
        _require(table, "scan.startup.timestamp-millis", ctx)
    if "," in table.options.get("key.fields", ""):
        message = "'key.fields' takes one column: Kafka keys a record by one value"
        raise ctx.error(message, _at(table, "key.fields"))


def _check_filesystem(table: ConnectorTable, ctx: Context) -> None:
    _require(table, "path", ctx)
    _require(table, "format", ctx)
    _choice(table, "format", _FILE_FORMATS, ctx)
    if table.definition.partition_by and table._format() not in PARTITIONED_FORMATS:
        raise ctx.error(
            "PARTITIONED BY is supported for 'format' = 'parquet' or 'csv' (hive directories)",
            table.definition.node,
        )
    _choice(table, "sink.partition-commit.policy.kind", ("success-file",), ctx)
    _choice(table, "sink.partition-commit.trigger", ("process-time", "partition-time"), ctx)
    if table.definition.primary_key and (
        table._format() != "parquet" or table.definition.partition_by
    ):
        raise ctx.error(
            "a filesystem table with a PRIMARY KEY keeps one row per key in a Parquet "
            f"snapshot ({SNAPSHOT_FILE} in its path): give it 'format' = 'parquet' and no "
            "PARTITIONED BY",
            table.definition.node,
        )


def _check_jdbc(table: ConnectorTable, ctx: Context) -> None:
    url = _require(table, "url", ctx)
    _require(table, "table-name", ctx)
    if not url.startswith(_JDBC_URL):
        raise ctx.error(
            f"'url' = '{url}': the jdbc connector writes PostgreSQL; give a URL "
            f"{_JDBC_URL}host:port/database",
            _at(table, "url"),
        )
    try:
        PostgresSink(url, table.options["table-name"])
    except SourceError as error:
        raise ctx.error(f"'table-name': {error}", _at(table, "table-name")) from None


def _check_primary_key(table: ConnectorTable, ctx: Context) -> None:
    if table.definition.primary_key and table.connector not in ("filesystem", "jdbc"):
        raise ctx.error(
            f"PRIMARY KEY on a {table.connector} table: sabot-lab keeps one row per key in "
            "filesystem tables ('format' = 'parquet') and jdbc tables; leave the key out here",
            table.definition.node,
        )


def _check_nexmark(table: ConnectorTable, ctx: Context) -> None:
    _nexmark_settings(table, ctx)


def _check_nothing(table: ConnectorTable, ctx: Context) -> None:
    """Connectors without options to check."""


_CHECKS: dict[str, Callable[[ConnectorTable, Context], None]] = {
    "kafka": _check_kafka,
    "filesystem": _check_filesystem,
    "nexmark": _check_nexmark,
    "datagen": _check_nexmark,
    "jdbc": _check_jdbc,
    "blackhole": _check_nothing,
    "print": _check_nothing,
}


def _nexmark_settings(
    table: ConnectorTable, ctx: Context | None = None
) -> tuple[int | None, float, bool]:
    """``(events, event_rate, paced)`` of a nexmark (or datagen) table: ``paced`` with
    ``'max-emit-speed' = 'false'`` (the events come at their rate in wall-clock time)."""
    ctx = ctx or Context(table.text, {})
    node, options = table.definition.node, table.options

    def number(key: str, default: str) -> float:
        text = options.get(key, default)
        try:
            return float(text)
        except ValueError:
            raise ctx.error(f"'{key}' = '{text}' is not a number", node) from None

    events = number("number-of-rows" if table.connector == "datagen" else "events.num", "0")
    first = number("first-event.rate", options.get("next-event.rate", "1000000"))
    if number("next-event.rate", str(first)) != first:
        raise ctx.unsupported(
            "a next-event.rate other than the first-event.rate (the generator keeps one rate)",
            node,
        )
    if first <= 0:
        raise ctx.error(f"the event rate must be positive, got {first}", node)
    for key, share in _NEXMARK_SHARES.items():
        if number(key, str(share)) != share:
            raise ctx.unsupported(
                f"'{key}' = '{options[key]}' (the generator's proportions are person 1, "
                "auction 3, bid 46)",
                node,
            )
    for key, value in (("keep-alive", "false"), ("stop-at", "-1")):
        if options.get(key, value).lower() != value:
            raise ctx.unsupported(f"'{key}' = '{options[key]}' (use '{value}')", node)
    max_speed = options.get("max-emit-speed", "true").lower()
    if max_speed not in ("true", "false"):
        raise ctx.error(
            f"'max-emit-speed' = '{options['max-emit-speed']}': use 'true' or 'false'", node
        )
    if events < 0 or events != int(events):
        raise ctx.error(f"the number of events must be a whole number >= 0, got {events}", node)
    return (int(events) or None), first, max_speed == "false"


# -- reading per connector -----------------------------------------------------------------
def _empty(schema: pa.Schema) -> Stream:
    return from_arrow(schema.empty_table())


def _read_kafka(table: ConnectorTable) -> Stream:
    options = table.options
    mode = options.get("scan.startup.mode", "group-offsets")
    start: Any = _STARTUP.get(mode)
    if mode == "timestamp":
        millis = int(options["scan.startup.timestamp-millis"])
        start = dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)
    stop = "latest" if options.get("scan.bounded.mode") == "latest-offset" else None
    return from_kafka(
        options["topic"], options["properties.bootstrap.servers"],
        group=options.get("properties.group.id"), format=options.get("format", "json"),  # type: ignore[arg-type]
        schema=table.definition.physical, start=start, stop=stop,  # type: ignore[arg-type]
    )  # fmt: skip


def _read_files(table: ConnectorTable) -> Stream:
    physical = table.definition.physical
    for key in table.definition.partition_by:  # in the directories' names, not the files
        physical = physical.remove(physical.get_field_index(key))
    file_format = table._format()
    options: CsvOptions | JsonOptions | None = None
    if file_format == "csv":  # Flink's csv format has no header line
        options = CsvOptions(has_header=False, schema=physical, null_values=("",))
    elif file_format == "json":
        options = JsonOptions(schema=physical)
    source = FileSource(table._path(), file_format, options=options)
    return from_source(source, f"filesystem {table.name}")


_NEXMARK_EVENT_TIME = (
    "CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime`"
    " ELSE bid.`dateTime` END"
)
_SOURCE_COLUMNS: dict[str, dict[str, str]] = {
    "nexmark": {"dateTime": _NEXMARK_EVENT_TIME},
    "datagen": {"dateTime": _NEXMARK_EVENT_TIME},
}
"""Computed columns a connector's source gives as they are, by the expression computing them:
a table computing one so reads it from the source (the Nexmark generator's ``dateTime`` is
each event's time, the Nexmark table's ``CASE`` over the three kinds), and a query that reads
no other column of a kind makes the generator skip that kind."""


def _read_nexmark(table: ConnectorTable) -> Stream:
    events, rate, paced = _nexmark_settings(table)
    source = NexmarkSource("events", events, rate, paced=paced)
    return from_source(source, f"nexmark {table.name}")


_READERS: dict[str, Callable[[ConnectorTable], Stream]] = {
    "kafka": _read_kafka,
    "filesystem": _read_files,
    "nexmark": _read_nexmark,
    "datagen": _read_nexmark,
}


def _as_type(stream: Stream, name: str, field: pa.Field) -> Any:
    have = stream.schema.field(name).type
    value = col(name)
    if have != field.type:
        value = lit(None, field.type) if pa.types.is_null(have) else value.cast(field.type)
    return value.alias(field.name)


# -- writing per connector -----------------------------------------------------------------
def _kafka_key(table: ConnectorTable) -> str | None:
    return table.options.get("key.fields") or None


def _write_kafka(table: ConnectorTable, rows: Stream) -> int:
    options = table.options
    return rows.to_kafka(
        options["topic"], options["properties.bootstrap.servers"], _kafka_key(table),
        options.get("format", "json"),  # type: ignore[arg-type]
    )  # fmt: skip


def _commit_once(rows: Stream, sink: CommitSink) -> int:
    """Run ``rows`` (bounded) here and write them to ``sink`` as one commit."""
    sink = sink_for(rows.graph, rows.node_id, sink)
    written = pa.Table.from_batches(list(rows.iter_batches()), schema=rows.schema)
    sink.commit(written, f"insert-{uuid.uuid4().hex}", 0)
    return written.num_rows


def _write_jdbc(table: ConnectorTable, rows: Stream) -> int:
    return _commit_once(rows, table._postgres_sink())


def _write_files(table: ConnectorTable, rows: Stream) -> int:
    directory, file_format = table._path(), table._format()
    if table.definition.primary_key:
        return _commit_once(rows, table._snapshot_sink())
    keys = list(table.definition.partition_by)
    if keys:
        if os.path.exists(directory) and os.listdir(directory):
            raise SQLError(
                f"INSERT INTO {table.name}: {directory} holds files already, and a partitioned "
                "table is written whole; write to a new 'path'"
            )
        if os.path.isdir(directory):
            os.rmdir(directory)
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        written = write_partitioned(rows.iter_batches(), rows.schema, directory, keys, file_format)
        if table.options.get("sink.partition-commit.policy.kind") == "success-file":
            for root, _, files in os.walk(directory):
                if files:  # a partition's directory: committed
                    open(os.path.join(root, "_SUCCESS"), "w").close()
        return written
    os.makedirs(directory, exist_ok=True)
    part = os.path.join(directory, f"part-{uuid.uuid4().hex}.{file_format}")
    if file_format == "csv":
        return rows.to_csv(part, include_header=False)
    if file_format == "json":
        return rows.to_json(part)
    return rows.to_parquet(part)


def _write_blackhole(table: ConnectorTable, rows: Stream) -> int:
    return rows.count_rows()


def _write_print(table: ConnectorTable, rows: Stream) -> int:
    prefix = table.options.get("print-identifier")
    count = 0
    for batch in rows.iter_batches():
        for row in batch.to_pylist():
            fields = ", ".join("null" if v is None else str(v) for v in row.values())
            print(f"{prefix}> +I[{fields}]" if prefix else f"+I[{fields}]", file=sys.stdout)
        count += batch.num_rows
    return count


_WRITERS: dict[str, Callable[[ConnectorTable, Stream], int]] = {
    "kafka": _write_kafka,
    "filesystem": _write_files,
    "jdbc": _write_jdbc,
    "blackhole": _write_blackhole,
    "print": _write_print,
}
