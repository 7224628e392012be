"""Sources and sinks of hand-built plans from their parameters: a SOURCE or SINK node of a
:class:`~sabot_lab.logical.JobGraph` says where its rows come from or go with the parameters
below, and these turn them into the connectors' objects (registered with
:mod:`sabot_lab.logical.parameters` when this package is imported).

========================  ===================================================================
key parameter             connector, and the other parameters it takes
========================  ===================================================================
source ``path``           Parquet, CSV or NDJSON files (:class:`FileSource`): ``format``
                          (``parquet``, ``csv``, ``json``; default from the extension)
source ``kafka_topic``    a Kafka topic (:class:`KafkaSource`): ``bootstrap_servers``,
                          ``group_id``, ``format`` (``json``, ``avro``, ``raw``, ``arrow``),
                          ``schema``, ``start``, ``stop``
sink ``path``             a Parquet directory (:class:`ParquetSink`)
sink ``kafka_topic``      a Kafka topic (:class:`KafkaSink`): ``bootstrap_servers``,
                          ``format``, ``key``
sink ``postgres_url``     a PostgreSQL table (:class:`PostgresSink`): ``table``, ``key``
========================  ===================================================================

May import: ``logical`` (to register), the connectors of this package, ``errors``.

>>> from sabot_lab.logical import OperatorType, StreamOperatorNode
>>> StreamOperatorNode(operator_type=OperatorType.SINK, parameters={"path": "/tmp/out"}).op.target
{'kind': 'parquet', 'location': '/tmp/out'}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sabot_lab.connectors.files import FileSource
from sabot_lab.connectors.kafka import KafkaSink, KafkaSource
from sabot_lab.connectors.parquet_sink import ParquetSink
from sabot_lab.connectors.postgres import PostgresSink
from sabot_lab.errors import PlanError
from sabot_lab.logical.parameters import register_sink_parameters, register_source_parameters

__all__ = [
    "file_format",
    "file_source",
    "kafka_sink",
    "kafka_source",
    "parquet_sink",
    "postgres_sink",
]

_EXTENSIONS = {".csv": "csv", ".json": "json", ".ndjson": "json", ".jsonl": "json"}


def file_format(path: str | os.PathLike[str]) -> str:
    """The file format a path's extension says (Parquet when it says none).

    >>> file_format("quotes.csv"), file_format("data/*.parquet"), file_format("data/")
    ('csv', 'parquet', 'parquet')
    """
    return _EXTENSIONS.get(os.path.splitext(os.fspath(path))[1].lower(), "parquet")


def file_source(params: Mapping[str, Any]) -> FileSource:
    """The files at ``path``, read as ``format``."""
    path = params["path"]
    return FileSource(path, params.get("format") or file_format(path))


def kafka_source(params: Mapping[str, Any]) -> KafkaSource:
    """The records of ``kafka_topic`` on ``bootstrap_servers``."""
    return KafkaSource(
        params["kafka_topic"],
        _bootstrap(params),
        format=params.get("format", "json"),
        schema=params.get("schema"),
        group=params.get("group_id"),
        start=params.get("start", "earliest"),
        stop=params.get("stop"),
    )


def parquet_sink(params: Mapping[str, Any]) -> dict[str, Any]:
    """A Parquet directory at ``path``."""
    return ParquetSink(params["path"]).to_dict()


def kafka_sink(params: Mapping[str, Any]) -> dict[str, Any]:
    """The topic ``kafka_topic`` on ``bootstrap_servers``, keyed by column ``key``."""
    sink = KafkaSink(
        params["kafka_topic"],
        _bootstrap(params),
        key=params.get("key"),
        format=params.get("format", "json"),
    )
    return sink.to_dict()


def postgres_sink(params: Mapping[str, Any]) -> dict[str, Any]:
    """The PostgreSQL table ``table`` of the database at ``postgres_url``."""
    if "table" not in params:
        raise PlanError("a PostgreSQL sink needs parameter table (and postgres_url)")
    return PostgresSink(params["postgres_url"], params["table"], params.get("key")).to_dict()


def _bootstrap(params: Mapping[str, Any]) -> str:
    if "bootstrap_servers" not in params:
        raise PlanError(
            f"Kafka topic {params['kafka_topic']!r} needs parameter bootstrap_servers "
            "(host:port of a broker)"
        )
    return str(params["bootstrap_servers"])


register_source_parameters("path", ["format"], file_source)
register_source_parameters(
    "kafka_topic",
    ["bootstrap_servers", "group_id", "format", "schema", "start", "stop"],
    kafka_source,
)
register_sink_parameters("path", [], parquet_sink)
register_sink_parameters("kafka_topic", ["bootstrap_servers", "format", "key"], kafka_sink)
register_sink_parameters("postgres_url", ["table", "key"], postgres_sink)
