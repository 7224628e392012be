"""Sources and sinks: Arrow/pandas tables, Parquet, CSV and NDJSON files, DuckDB queries, Python
iterables, the Nexmark generator, Kafka topics; sinks of jobs (Parquet, Parquet snapshots,
hive-partitioned CSV or Parquet, Kafka, PostgreSQL, the blackhole).

Importing this package registers every source kind with the plan model, and the parameters
hand-built plans give sources and sinks by (:mod:`~sabot_lab.connectors.parameters`).

May import: ``logical`` (to register source kinds), ``expr``, ``predicates``, ``kernels``,
``engine.stateless`` (a pushed-down filter runs as the engine runs it), ``errors``; never
the optimizer, the runtime, the user API or the notebook.

>>> from sabot_lab.connectors import ArrowSource
>>> import pyarrow as pa
>>> ArrowSource(pa.table({"x": [1, 2]})).describe()
'arrow table (2 rows, 1 columns)'
"""

from sabot_lab.connectors.arrow import ArrowSource
from sabot_lab.connectors.blackhole import BlackholeSink
from sabot_lab.connectors.duckdb import DuckDBSource
from sabot_lab.connectors.file_formats import CsvOptions, JsonOptions
from sabot_lab.connectors.file_writers import write_csv, write_json, write_parquet
from sabot_lab.connectors.files import FileSource
from sabot_lab.connectors.iterable import IterableSource
from sabot_lab.connectors.kafka import KafkaSink, KafkaSource
from sabot_lab.connectors.nexmark import NexmarkSource
from sabot_lab.connectors.parameters import file_format
from sabot_lab.connectors.parquet_sink import ParquetSink
from sabot_lab.connectors.parquet_snapshot import ParquetSnapshotSink
from sabot_lab.connectors.partitioned_file_sink import PartitionedFileSink
from sabot_lab.connectors.postgres import PostgresSink
from sabot_lab.connectors.sink import CommitSink
from sabot_lab.connectors.uploaded_tables import UploadedTable

__all__ = [
    "ArrowSource",
    "BlackholeSink",
    "CommitSink",
    "CsvOptions",
    "DuckDBSource",
    "FileSource",
    "IterableSource",
    "JsonOptions",
    "KafkaSink",
    "KafkaSource",
    "NexmarkSource",
    "ParquetSink",
    "ParquetSnapshotSink",
    "PartitionedFileSink",
    "PostgresSink",
    "UploadedTable",
    "file_format",
    "write_csv",
    "write_json",
    "write_parquet",
]
