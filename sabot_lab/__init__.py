"""sabot-lab: lazy Arrow pipelines for notebooks, bounded or streaming, in-process or on a cluster.

The package's namespace is the user API: the lazy :class:`Stream` and its sources
(``from_*``), expressions (``col``, ``lit``, ``when``...), window specs, ``sql``, sinks, the
client (``connect``, ``LocalCluster``, ``local_clusters``, ``Job``) and the example Nexmark streams.

``import sabot_lab`` loads only what in-process use needs: no Arrow Flight (the client's names
are imported on first use), JobManager, agent server, DBOS, SQLAlchemy, widgets, IPython nor
pandas. Notebook displays come from the notebook plug-in, found on the first display request
(see :mod:`sabot_lab.display`); ``%load_ext sabot_lab`` loads its magics.

May import: everything it re-exports (the user API, the client, the examples); never the
runtime nor the notebook plug-in.

>>> import sabot_lab as sl
>>> quotes = sl.from_pydict({"sector": ["tech", "tech", "energy"], "px": [10.0, 30.0, 5.0]})
>>> quotes.group_by("sector").agg(sl.col("px").mean().alias("avg")).sort("sector").collect().to_pydict()
{'sector': ['energy', 'tech'], 'avg': [5.0, 20.0]}
"""

from typing import TYPE_CHECKING, Any

from sabot_lab import display
from sabot_lab.config import Config, get_config, set_config
from sabot_lab.connectors.kafka import KafkaSink
from sabot_lab.connectors.parquet_sink import ParquetSink
from sabot_lab.connectors.parquet_snapshot import ParquetSnapshotSink
from sabot_lab.connectors.partitioned_file_sink import PartitionedFileSink
from sabot_lab.connectors.postgres import PostgresSink
from sabot_lab.errors import (
    AuthenticationError,
    ClusterError,
    ComputeError,
    JobNotFoundError,
    NotLeaderError,
    PerformanceWarning,
    PlanError,
    SabotError,
    SchemaError,
    SourceError,
    SQLError,
    TlsError,
    UDFCompileError,
    UDFError,
    UnreachableError,
)
from sabot_lab.examples import datasets
from sabot_lab.examples.nexmark import Nexmark, nexmark
from sabot_lab.expr import (
    Expr,
    col,
    concat_str,
    count,
    duration,
    lit,
    max_horizontal,
    min_horizontal,
    when,
)
from sabot_lab.expr.windows import (
    cume_dist,
    dense_rank,
    nth_value,
    ntile,
    percent_rank,
    rank,
    row_number,
)
from sabot_lab.file_readers import from_csv, from_json, from_parquet
from sabot_lab.logical import JobGraph, OperatorType, StreamOperatorNode
from sabot_lab.optimizer import PlanOptimizer
from sabot_lab.sql import SQLContext, register_function, sql, unregister_function
from sabot_lab.stream import (
    GroupBy,
    RunResult,
    Stream,
    from_arrow,
    from_duckdb,
    from_generator,
    from_iterable,
    from_kafka,
    from_pandas,
    from_pydict,
    from_source,
)
from sabot_lab.table_preview import register_table_formatter
from sabot_lab.udaf import udaf
from sabot_lab.udf import UDF, udf
from sabot_lab.window_specs import WindowSpec, session, sliding, tumbling

if TYPE_CHECKING:
    from sabot_lab.client import Job, LocalCluster, connect, local_clusters

__version__ = "0.1.0"

register_table_formatter()  # imported in IPython: pyarrow Tables (results) show as HTML tables

_CLIENT_NAMES = ("Job", "LocalCluster", "connect", "local_clusters")


def __getattr__(name: str) -> Any:
    """The client's names (``connect``, ``LocalCluster``, ``local_clusters``, ``Job``), imported on first use: they
    load Arrow Flight, which in-process use never needs.

    >>> import sabot_lab as sl
    >>> sl.LocalCluster.__module__
    'sabot_lab.client.local'
    """
    if name in _CLIENT_NAMES:
        from sabot_lab import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%sabot`` SQL cells and ``%sabot`` commands in IPython: this is what
    ``%load_ext sabot_lab`` runs (the notebook plug-in's, see :mod:`sabot_lab.display`).

    >>> from IPython.core.interactiveshell import InteractiveShell
    >>> load_ipython_extension(InteractiveShell.instance())
    """
    display.render("ipython.extension", ipython)


__all__ = [
    "UDF",
    "AuthenticationError",
    "ClusterError",
    "ComputeError",
    "Config",
    "Expr",
    "GroupBy",
    "Job",
    "JobGraph",
    "JobNotFoundError",
    "KafkaSink",
    "LocalCluster",
    "Nexmark",
    "NotLeaderError",
    "OperatorType",
    "ParquetSink",
    "ParquetSnapshotSink",
    "PartitionedFileSink",
    "PerformanceWarning",
    "PlanError",
    "PlanOptimizer",
    "PostgresSink",
    "RunResult",
    "SQLContext",
    "SQLError",
    "SabotError",
    "SchemaError",
    "SourceError",
    "Stream",
    "StreamOperatorNode",
    "TlsError",
    "UDFCompileError",
    "UDFError",
    "UnreachableError",
    "WindowSpec",
    "__version__",
    "col",
    "concat_str",
    "connect",
    "count",
    "cume_dist",
    "datasets",
    "dense_rank",
    "duration",
    "from_arrow",
    "from_csv",
    "from_duckdb",
    "from_generator",
    "from_iterable",
    "from_json",
    "from_kafka",
    "from_pandas",
    "from_parquet",
    "from_pydict",
    "from_source",
    "get_config",
    "lit",
    "load_ipython_extension",
    "local_clusters",
    "max_horizontal",
    "min_horizontal",
    "nexmark",
    "nth_value",
    "ntile",
    "percent_rank",
    "rank",
    "register_function",
    "row_number",
    "session",
    "set_config",
    "sliding",
    "sql",
    "tumbling",
    "udaf",
    "udf",
    "unregister_function",
    "when",
]
